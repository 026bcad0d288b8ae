"""score_files: `edgeiqa score` as a function (sharding, resuming, the results file), on real files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_quality_images
from edgeiqa.runtime.score_files import NothingToScoreError, ScoreFilesJob, score_files


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    make_quality_images(folder, n=6, size=64)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def test_scores_a_folder_into_a_results_file_and_resumes(photos, tmp_path):
    out = tmp_path / "scores.jsonl"
    seen = []
    first = score_files(ScoreFilesJob([str(photos)], out=str(out), shard=(0, 2)), on_result=seen.append)
    # 7 files sorted, every 2nd from the 0th: broken.jpg (sorts first) and 3 photos
    assert (first.scored, first.failed, first.skipped, first.total) == (3, 1, 0, 4)
    rows = [json.loads(line) for line in out.read_text().splitlines() if line]
    assert len(rows) == len(seen) == first.scored + first.failed
    assert [r["path"] for r in rows if "error" in r] == [str(photos / "broken.jpg")]
    # the whole folder, resumed: the first shard's files are skipped, the rest scored and appended
    rest = score_files(ScoreFilesJob([str(photos)], out=str(out), resume=True))
    assert (rest.skipped, rest.scored, rest.failed) == (4, 3, 0)
    names = [json.loads(line)["path"] for line in out.read_text().splitlines() if line]
    assert sorted(names) == sorted(str(p) for p in photos.iterdir())
    scores = [json.loads(line).get("score") for line in out.read_text().splitlines() if line]
    assert all(np.isfinite(s) for s in scores if s is not None)


def test_nothing_to_score_and_bad_jobs_are_clear_errors(tmp_path):
    with pytest.raises(NothingToScoreError, match="no images found"):
        score_files(ScoreFilesJob([str(tmp_path)]))
    with pytest.raises(ValueError, match="--yuv needs --size"):
        score_files(ScoreFilesJob([str(tmp_path)], yuv="nv12"))
    with pytest.raises(ValueError, match="--resume needs --out"):
        score_files(ScoreFilesJob([str(tmp_path)], resume=True))
