"""K-fold cross-validation splits and the protocol's fold mode, on a real CSV dataset."""

import json

import numpy as np
import pytest
from conftest import train_config
from edgeiqa.train.data.registry import load_dataset
from edgeiqa.train.data.splits import make_folds


def test_folds_partition_the_groups_and_keep_val_out_of_test(csv_dataset):
    ds = load_dataset("csv", csv_dataset, csv="data.csv")
    folds = make_folds(ds, 3, seed=8)
    tests = [set(f["test"]) for f in folds]
    assert set().union(*tests) == set(range(len(ds.samples)))
    assert sum(len(t) for t in tests) == len(ds.samples)  # each image tested exactly once
    refs = lambda idx: {ds.samples[i].ref for i in idx}  # noqa: E731
    for f in folds:
        assert not set(f["train"]) & set(f["test"]) and not set(f["val"]) & set(f["test"])
        assert f["val"] and not set(f["train"]) & set(f["val"])
        if ds.split_by_ref:
            assert not refs(f["train"] + f["val"]) & refs(f["test"])
    assert make_folds(ds, 3, seed=8) == folds and make_folds(ds, 3, seed=9) != folds
    with pytest.raises(ValueError, match="k >= 2"):
        make_folds(ds, 1, seed=8)
    with pytest.raises(ValueError, match="too few"):
        make_folds(ds, 50, seed=8)


def test_protocol_cross_validates_with_saved_folds(csv_dataset, tmp_path):
    from edgeiqa.train.protocol import run_protocol

    base = train_config(csv_dataset, tmp_path / "unused", epochs=2, hidden=16)
    out = tmp_path / "protocol"
    runs = run_protocol(base, {"csv": str(csv_dataset)}, ["gated"], [8], out, folds=3)
    assert [r.fold for r in runs] == [0, 1, 2]
    saved = sorted((out / "folds" / "csv").glob("fold*.json"))
    assert len(saved) == 3
    tested = [n for f in saved for n in json.loads(f.read_text())["test"]]
    assert len(tested) == len(set(tested)) == 24
    rows = json.loads((out / "protocol.json").read_text())["rows"]
    assert rows[0]["folds"] == [0, 1, 2]
    assert rows[0]["srcc_median"] == pytest.approx(float(np.median([r.test["srcc"] for r in runs])))
    assert "3 folds" in (out / "protocol.md").read_text()
