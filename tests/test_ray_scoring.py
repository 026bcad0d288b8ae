"""`edgeiqa score --ray`: a local Ray instance over real files, corrupt ones among them.

The same scores as the Scorer on the same files, nothing lost, errors as rows, resumable by path,
Parquet and JSON lines. Skips where Ray Data is not installed (pip install edgeiqa[ray]).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow")

CLIVE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "clive-train" / "images"
N_PHOTOS = 200


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> tuple[Path, list[Path]]:
    """A few hundred real photos (CLIVE's when ../shared has them, else scikit-image's, re-encoded at
    several sizes and qualities) plus corrupt, truncated and empty files."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("collection")
    if CLIVE.is_dir():
        sources = sorted(CLIVE.iterdir())[:N_PHOTOS]
        for src in sources:
            (folder / src.name).symlink_to(src)
    else:
        import skimage.data

        bases = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
        for i in range(N_PHOTOS):
            img = Image.fromarray(bases[i % len(bases)]).resize((160 + 8 * (i % 10), 120 + 6 * (i % 7)))
            img.save(folder / f"photo_{i:03d}.jpg", quality=30 + (i * 7) % 65)
    (folder / "corrupt.jpg").write_bytes(b"not an image at all")
    (folder / "empty.png").write_bytes(b"")
    good = sorted(p for p in folder.iterdir() if p.name not in ("corrupt.jpg", "empty.png"))
    (folder / "truncated.jpg").write_bytes(good[0].read_bytes()[:1500])
    return folder, sorted(folder.iterdir())


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _by_path(records: list[dict]) -> dict[str, dict]:
    return {r["path"]: r for r in records}


def test_ray_scores_what_the_scorer_scores_and_loses_nothing(collection, local_ray, tmp_path):
    from edgeiqa.runtime import Scorer
    from edgeiqa.runtime.ray_scoring import score_with_ray

    folder, files = collection
    out = tmp_path / "scores.jsonl"
    counts = score_with_ray([folder], out, batch_size=16, progress=False)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(files) and counts["scored"] + counts["failed"] == len(files)
    with Scorer.load() as scorer:
        expected = _by_path([r.to_dict() for r in scorer.score([str(f) for f in files])])
    got = _by_path(records)
    assert set(got) == set(expected)
    bad = {str(folder / n) for n in ("corrupt.jpg", "empty.png", "truncated.jpg")}
    assert {p for p, r in got.items() if "error" in r} == bad
    for path, r in got.items():
        if path not in bad:
            assert r["score"] == pytest.approx(expected[path]["score"], abs=1e-3)


def test_ray_resumes_by_path_and_writes_parquet(collection, local_ray, tmp_path):
    import pyarrow.parquet as pq
    from edgeiqa.runtime.ray_scoring import score_with_ray

    folder, files = collection
    first = [str(f) for f in files[:40]]
    manifest = tmp_path / "list.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "note"])
        w.writerows([(f, "x") for f in first])
    out = tmp_path / "scores.parquet"
    counts = score_with_ray([manifest], out, progress=False)
    assert counts["skipped"] == 0 and counts["scored"] + counts["failed"] == 40
    table = pq.read_table(out)
    assert sorted(table.column("path").to_pylist()) == sorted(first)
    again = score_with_ray([folder], out, progress=False)  # the first 40 are already there
    assert again["skipped"] == 40 and again["scored"] + again["failed"] == len(files) - 40
    table = pq.read_table(out)
    paths = table.column("path").to_pylist()
    assert len(paths) == len(set(paths)) == len(files)
    scores = np.array(table.column("score").to_pylist(), dtype=float)
    errors = table.column("error").to_pylist()
    assert all((e == "") == np.isfinite(s) for e, s in zip(errors, scores))


def test_cli_ray_needs_an_out_file_and_says_so(capsys):
    from edgeiqa.cli import main

    with pytest.raises(SystemExit):
        main(["score", "--ray", "photos"])
    assert "--out" in capsys.readouterr().err


def test_manifest_without_a_path_column_is_a_clear_error(tmp_path):
    from edgeiqa.runtime.ray_scoring import collect_paths

    bad = tmp_path / "list.csv"
    bad.write_text("file,mos\na.jpg,3\n")
    with pytest.raises(ValueError, match="no 'path' column"):
        collect_paths([bad])
