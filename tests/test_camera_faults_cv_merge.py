"""benchmarks/camera_faults_cv.py --merge: folds measured in separate runs summarised as one
experiment, and runs that are not one experiment refused."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
cv = pytest.importorskip("camera_faults_cv")


def _fold(srcc: float) -> dict:
    kinds = {"defocus": {"mean_spearman": srcc, "pairs_right": srcc}}
    return {"test": {"srcc": srcc}, "best_epoch": [3],
            "faults": {"broken": {"below_p5": 1.0}, "worst_kind_spearman": srcc, "worst_kind_pairs": srcc,
                       "kinds": kinds}}


def _run(folds: dict[int, float], **meta) -> dict:
    base = {"recipe": cv.RECIPE, "folds": 5, "eval_photos": 40, "ensemble": 4, "cpu": "AMD EPYC",
            "date": "2026-12-07", "only_folds": ",".join(map(str, folds))}
    base.update(meta)
    return {**base, "results": {"ten": {"overrides": {"camera_faults": 3}, "seconds": 10.0,
                                        "folds": [_fold(v) for v in folds.values()]}}}


def test_runs_on_other_folds_join_in_fold_order(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_run({3: 0.70, 4: 0.90})))
    b.write_text(json.dumps(_run({0: 0.80, 1: 0.85, 2: 0.75})))
    cv.write_merged([str(a), str(b)], tmp_path / "joined")
    joined = json.loads((tmp_path / "joined.json").read_text())
    ten = joined["results"]["ten"]
    assert ten["fold_indices"] == [0, 1, 2, 3, 4]
    assert [f["test"]["srcc"] for f in ten["folds"]] == [0.80, 0.85, 0.75, 0.70, 0.90]
    assert ten["summary"]["srcc"]["median"] == pytest.approx(0.80)
    assert "only_folds" not in joined  # all five folds: no early-read note
    md = (tmp_path / "joined.md").read_text()
    assert "only" not in md.split("\n")[0] and "folds 3,4 measured 2026-12-07 on AMD EPYC" in md


@pytest.mark.parametrize("second, message", [
    (_run({1: 0.8}), "measured twice"),
    (_run({2: 0.8}, ensemble=1), "differ in ['ensemble']"),
    (_run({2: 0.8}, recipe={**cv.RECIPE, "epochs": 1}), "differ in ['recipe']"),
])
def test_runs_that_are_not_one_experiment_are_refused(second, message):
    with pytest.raises(SystemExit, match=message.replace("[", r"\[").replace("]", r"\]")):
        cv.merge_runs([_run({0: 0.8, 1: 0.8}), second])


def test_only_the_variants_every_run_measured_are_joined():
    a = _run({0: 0.8, 1: 0.8})
    a["results"]["baseline"] = a["results"]["ten"]
    _, folds, results = cv.merge_runs([a, _run({2: 0.7, 3: 0.7, 4: 0.7})])
    assert folds == [0, 1, 2, 3, 4] and list(results) == ["ten"]
    b = _run({2: 0.7})
    b["results"] = {"other": b["results"]["ten"]}
    with pytest.raises(SystemExit, match="no variant"):
        cv.merge_runs([_run({0: 0.8}), b])
