"""Dataset loaders against fixtures in each real format, and against the real metadata files."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from conftest import SHARED
from edgeiqa.train.data.records import DatasetError
from edgeiqa.train.data.registry import load_dataset
from edgeiqa.train.data.splits import load_split, make_split, save_split
from scipy.io import savemat

META = SHARED / "datasets-meta"


def _touch_all(root: Path, names, sub: str) -> None:
    for n in names:
        p = root / sub / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()


def _write_csv(path: Path, header, rows, crlf=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n" if crlf else "\n")
        w.writerow(header)
        w.writerows(rows)


def _write_xlsx(path: Path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    wb.save(path)


# --- fixtures in each real format --------------------------------------------------------------

def test_koniq_both_csv_variants_and_official_split(tmp_path):
    a = tmp_path / "a"
    _write_csv(a / "koniq10k_distributions_sets.csv", ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS",
                                                       "SD", "set"],
               [(f"{i}.jpg", 0, 0, 0.5, 0.5, 0, 100, 40 + i, 0.5, s)
                for i, s in enumerate(["training"] * 6 + ["validation"] * 2 + ["test"] * 2)])
    _touch_all(a, [f"{i}.jpg" for i in range(10)], "1024x768")
    ds = load_dataset("koniq10k", a)
    assert len(ds.samples) == 10 and ds.report().usable
    split = make_split(ds, seed=0, official=True)
    assert [len(split[k]) for k in ("train", "val", "test")] == [6, 2, 2]
    b = tmp_path / "b"
    _write_csv(b / "meta" / "koniq10k_scores.csv", ["image_name", "MOS_zscore", "MOS"],
               [(f"{i}.jpg", 20 + i, 1 + i / 5) for i in range(5)], crlf=True)
    _touch_all(b, [f"{i}.jpg" for i in range(5)], "512x384")
    ds = load_dataset("koniq10k", b)
    assert [s.mos for s in ds.samples] == [20, 21, 22, 23, 24]  # the 0-100 column, not the 1-5 one
    assert ds.scale.to_train(50) == pytest.approx(0.5)


def test_clive_mat_files_drop_the_seven_training_images(tmp_path):
    names = [f"t{i}.bmp" for i in range(1, 8)] + [f"{i}.bmp" for i in range(100, 105)]
    cell = np.empty((len(names), 1), dtype=object)
    for i, n in enumerate(names):
        cell[i, 0] = np.array([n])
    (tmp_path / "Data").mkdir()
    savemat(tmp_path / "Data" / "AllImages_release.mat", {"AllImages_release": cell})
    savemat(tmp_path / "Data" / "AllMOS_release.mat", {"AllMOS_release": np.linspace(10, 90, len(names))[None]})
    _touch_all(tmp_path, names[7:], "Images")
    ds = load_dataset("clive", tmp_path)
    assert [s.name for s in ds.samples] == names[7:]
    assert ds.report().usable


def test_kadid_groups_by_reference(tmp_path):
    rows = [(f"I{r:02d}_{d:02d}_{lv:02d}.png", f"I{r:02d}.png", 1 + lv * 0.7, 0.5)
            for r in range(1, 11) for d in range(1, 3) for lv in range(1, 6)]
    _write_csv(tmp_path / "dmos.csv", ["dist_img", "ref_img", "dmos", "var"], rows)
    _touch_all(tmp_path, [r[0] for r in rows], "images")
    ds = load_dataset("kadid10k", tmp_path)
    assert ds.split_by_ref and (ds.scale.lo, ds.scale.hi) == (1.0, 5.0)
    for seed in range(5):
        split = make_split(ds, seed)
        refs = {k: {ds.samples[i].ref for i in v} for k, v in split.items()}
        assert not (refs["train"] & refs["val"]) and not (refs["train"] & refs["test"]) and not (
            refs["val"] & refs["test"])
        assert sum(len(v) for v in split.values()) == len(ds.samples)


def test_agiqa_and_spaq_and_flive_formats(tmp_path):
    _write_csv(tmp_path / "a3" / "data.csv", ["name", "prompt", "adj1", "adj2", "style", "mos_quality",
                                              "std_quality", "mos_align", "std_align"],
               [(f"x_{i}.jpg", "a cat", "", "", "", 1 + i / 3, 0.2, 3, 0.1) for i in range(6)], crlf=True)
    _touch_all(tmp_path / "a3", [f"x_{i}.jpg" for i in range(6)], "image")
    assert load_dataset("agiqa3k", tmp_path / "a3").report().usable
    _write_xlsx(tmp_path / "a1" / "AIGC_MOS_Zscore.xlsx", ["Image", "Prompt", "MOS"],
                [("d_1.jpg", "p", 1.0), ("d_2.jpg", "p", 2.0), ("d_2.jpg", "p", 4.0), ("d_3.jpg", "p", 3.0)])
    _touch_all(tmp_path / "a1", ["d_1.jpg", "d_2.jpg", "d_3.jpg"], "file")
    ds = load_dataset("agiqa1k", tmp_path / "a1")
    assert [s.name for s in ds.samples] == ["d_1.jpg", "d_3.jpg"]  # the conflicting duplicate is dropped
    assert any("listed more than once" in n for n in ds.notes)
    for fname in ("MOS and Image attribute scores.xlsx", "MOS_and_Image_attribute_scores.xlsx"):
        root = tmp_path / fname.replace(" ", "")
        _write_xlsx(root / "Annotations" / fname, ["Image name", "MOS", "Brightness"],
                    [("00001.jpg", 48.9, 1), ("00002.jpg", 62.5, 2)])
        _touch_all(root, ["00001.jpg", "00002.jpg"], "TestImage")
        assert [s.mos for s in load_dataset("spaq", root).samples] == [48.9, 62.5]
    _write_csv(tmp_path / "fl" / "labels_image.csv", ["name", "mos"],
               [("blur_dataset/a.jpg", 50), ("voc/B.JPG", 60)], crlf=True)
    _touch_all(tmp_path / "fl", ["blur_dataset/a.jpg", "voc/b.jpg"], "database")  # case differs on disk
    ds = load_dataset("flive", tmp_path / "fl")
    assert ds.report().usable, ds.report().text()


def test_images_are_found_in_unexpected_subfolders_and_missing_ones_reported(tmp_path):
    rows = [(f"I01_01_0{i}.png", "I01.png", 3.0, 0.1) for i in range(1, 6)]
    _write_csv(tmp_path / "dmos.csv", ["dist_img", "ref_img", "dmos", "var"], rows)
    _touch_all(tmp_path, [r[0] for r in rows[:4]], "kadid10k_v2/odd/place")
    rep = load_dataset("kadid10k", tmp_path).report()
    assert (rep.rows, rep.images_found, rep.images_missing) == (5, 4, 1)
    assert rep.missing_examples == ["I01_01_05.png"]
    assert any("odd/place" in d for d in rep.found_in)


def test_missing_metadata_and_bad_mos_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="dmos.csv"):
        load_dataset("kadid10k", tmp_path)
    _write_csv(tmp_path / "data.csv", ["path", "mos"], [("a.png", "n/a")])
    with pytest.raises(DatasetError, match="not a number"):
        load_dataset("csv", tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("csv", tmp_path / "nope")


def test_split_file_roundtrip_and_ratios(csv_dataset, tmp_path):
    ds = load_dataset("csv", csv_dataset)
    split = make_split(ds, seed=19, ratios=(0.5, 0.25, 0.25))
    save_split(tmp_path / "split.json", ds, split, 19)
    assert load_split(tmp_path / "split.json", ds) == split
    assert make_split(ds, seed=19, ratios=(0.5, 0.25, 0.25)) == split
    assert make_split(ds, seed=25, ratios=(0.5, 0.25, 0.25)) != split


# --- the real metadata files ------------------------------------------------------------------

REAL = [  # (dataset, metadata files, image subfolder, rows after quirks, (mos_min, mos_max) or None)
    ("koniq10k", ["koniq10k/koniq10k_distributions_sets.csv"], "1024x768", 10073, None),
    ("clive", ["clive/AllImages_release.mat", "clive/AllMOS_release.mat"], "Images", 1162, None),
    ("kadid10k", ["kadid10k/dmos.csv"], "images", 10125, (1.0, 4.93)),
    ("agiqa3k", ["agiqa3k/data.csv"], "image", 2982, None),
    ("agiqa1k", ["agiqa1k/AIGC_MOS_Zscore.xlsx"], "file", 1078, None),
    ("spaq", ["spaq/MOS and Image attribute scores.xlsx"], "TestImage", 11125, None),
    ("flive", ["flive/labels_image.csv"], "database", 39810, (0.0, 94.3)),
]


@pytest.mark.skipif(not META.is_dir(), reason="../shared/datasets-meta not present")
@pytest.mark.parametrize("name,files,sub,rows,mos_range", REAL, ids=[r[0] for r in REAL])
def test_real_metadata(tmp_path, name, files, sub, rows, mos_range):
    for f in files:
        (tmp_path / Path(f).name).symlink_to(META / f)
    ds = load_dataset(name, tmp_path)
    _touch_all(tmp_path, [s.name for s in ds.samples], sub)
    ds = load_dataset(name, tmp_path)
    rep = ds.report()
    assert rep.rows == rows and rep.images_missing == 0, rep.text()
    assert 0.0 <= ds.scale.to_train(rep.mos_min) and ds.scale.to_train(rep.mos_max) <= 1.0 + 1e-9
    if mos_range:
        assert rep.mos_min == pytest.approx(mos_range[0], abs=0.01)
        assert rep.mos_max == pytest.approx(mos_range[1], abs=0.05)


@pytest.mark.skipif(not META.is_dir(), reason="../shared/datasets-meta not present")
def test_real_koniq_official_split_sizes(tmp_path):
    (tmp_path / "k.csv").symlink_to(META / "koniq10k/koniq10k_distributions_sets.csv")
    (tmp_path / "koniq10k_distributions_sets.csv").symlink_to(META / "koniq10k/koniq10k_distributions_sets.csv")
    split = make_split(load_dataset("koniq10k", tmp_path), 0, official=True)
    assert [len(split[k]) for k in ("train", "val", "test")] == [7058, 1000, 2015]


@pytest.mark.skipif(not META.is_dir(), reason="../shared/datasets-meta not present")
def test_data_check_cli_json_and_exit_codes(tmp_path):
    (tmp_path / "dmos.csv").symlink_to(META / "kadid10k/dmos.csv")
    cmd = [sys.executable, "-m", "edgeiqa", "data", "check", "kadid10k", "--root", str(tmp_path), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1  # no images yet
    rep = json.loads(out.stdout.strip().splitlines()[-1])
    assert (rep["rows"], rep["images_found"], rep["images_missing"]) == (10125, 0, 10125)
    assert (rep["mos_min"], rep["mos_max"]) == (1.0, 4.93)
    rows = list(csv.DictReader(open(META / "kadid10k/dmos.csv")))
    _touch_all(tmp_path, [r["dist_img"] for r in rows], "images")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout.strip().splitlines()[-1])["images_missing"] == 0
