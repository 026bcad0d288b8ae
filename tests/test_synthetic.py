import csv
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest
from edgeiqa.train.data.registry import load_dataset
from edgeiqa.train.data.splits import make_split
from edgeiqa.train.data.synthetic import DISTORTIONS, build_synthetic
from PIL import Image


def _rows(path):
    return list(csv.DictReader(open(path)))


def test_at_least_twelve_distortion_types_at_five_levels():
    assert len(DISTORTIONS) >= 12
    assert all(len(levels) == 5 for _, levels in DISTORTIONS.values())


def test_labels_fall_with_the_level_of_every_distortion(tmp_path):
    rows = _rows(build_synthetic(tmp_path / "s", size=96, crops=1, progress=False))
    by = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by[r["distortion"]][int(r["level"])].append(float(r["mos"]))
    assert set(by) == set(DISTORTIONS) | {"reference"}
    for name in DISTORTIONS:
        means = [np.mean(by[name][lv]) for lv in range(1, 6)]
        assert all(a > b for a, b in zip(means, means[1:])), (name, means)
        assert means[0] < 100.0


def test_deterministic_for_a_seed_and_split_by_reference(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(refs / f"r{i}.png")
    kinds = ("white_noise", "motion_blur", "jpeg")
    a = build_synthetic(tmp_path / "a", refs, seed=3, size=48, crops=2, distortions=kinds, progress=False)
    b = build_synthetic(tmp_path / "b", refs, seed=3, size=48, crops=2, distortions=kinds, progress=False)
    c = build_synthetic(tmp_path / "c", refs, seed=4, size=48, crops=2, distortions=kinds, progress=False)
    assert a.read_text() == b.read_text()
    ra = _rows(a)
    assert all((a.parent / r["path"]).read_bytes() == (b.parent / r["path"]).read_bytes() for r in ra)
    assert a.read_text() != c.read_text()
    ds = load_dataset("synthetic", a.parent)
    assert len(ds.samples) == 4 * 2 * (1 + 3 * 5)
    split = make_split(ds, seed=0, ratios=(0.5, 0.25, 0.25))
    refs_of = {k: {ds.samples[i].ref for i in idx} for k, idx in split.items()}
    assert all(len(v) == 1 or k == "train" for k, v in refs_of.items())
    assert not (refs_of["train"] & refs_of["test"]) and not (refs_of["val"] & refs_of["test"])


def test_synth_cli_writes_a_csv_the_csv_loader_reads(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(refs / "flat.png")
    out = subprocess.run([sys.executable, "-m", "edgeiqa", "data", "synth", "--out", str(tmp_path / "s"),
                          "--refs", str(refs), "--size", "32", "--crops", "1"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    ds = load_dataset("csv", tmp_path / "s", csv="synthetic.csv")
    assert len(ds.samples) == 1 + 5 * len(DISTORTIONS) and ds.report().usable
    bad = subprocess.run([sys.executable, "-m", "edgeiqa", "data", "synth", "--out", str(tmp_path / "t"),
                          "--refs", str(tmp_path / "empty_nonexistent")], capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


@pytest.mark.parametrize("name", ["nosuch"])
def test_unknown_dataset_name(tmp_path, name):
    with pytest.raises(KeyError, match="unknown dataset"):
        load_dataset(name, tmp_path)


def test_type_level_oracle_is_perfect_when_labels_ignore_content(tmp_path):
    from edgeiqa.train.data.synthetic import type_level_oracle_srcc

    path = tmp_path / "s.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "mos", "ref", "distortion", "level"])
        for ref in ("a", "b", "c"):
            for d, base in (("blur", 90), ("noise", 70)):
                for lv in range(1, 6):
                    w.writerow([f"{ref}{d}{lv}.png", base - 5 * lv + (0.1 if ref == "c" else 0), ref, d, lv])
    train = list(range(0, 20))
    test = list(range(20, 30))
    assert type_level_oracle_srcc(path, train, test) == pytest.approx(1.0)


def test_level_labels_follow_the_level_and_keep_the_ssim_column(tmp_path):
    import csv

    import numpy as np
    from edgeiqa.train.data.synthetic import build_synthetic, level_mos
    from PIL import Image

    refs = tmp_path / "refs"
    refs.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(refs / "a.png")
    path = build_synthetic(tmp_path / "s", refs, size=32, crops=1, distortions=("gaussian_blur",), labels="level",
                           progress=False)
    rows = list(csv.DictReader(open(path)))
    assert [float(r["mos"]) for r in rows] == [level_mos(int(r["level"])) for r in rows]
    assert all(0 <= float(r["ssim"]) <= 100 for r in rows)
    assert float(next(r for r in rows if r["level"] == "5")["ssim"]) < 100
