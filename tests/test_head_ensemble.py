"""--head-ensemble K: K heads on disjoint-held-out subsets, one checkpoint, one graph of their mean."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import train_config, write_quality_csv


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory, monkeypatch_module):
    base = tmp_path_factory.mktemp("ensemble")
    monkeypatch_module.setenv("EDGEIQA_CACHE", str(base / "cache"))
    root = base / "data"
    write_quality_csv(root, n=30, size=64)
    from edgeiqa.train.trainer import train

    cfg = train_config(root, base / "ckpt", regime="frozen", camera_faults=2, epochs=2, image_size=32,
                       head_ensemble=3)
    return train(cfg), base, root


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_members_leave_out_disjoint_thirds_of_the_training_photos(ensemble_run):
    result, base, _ = ensemble_run
    full = json.loads((base / "ckpt" / "split.json").read_text())
    parts = [json.loads((base / "ckpt" / "members" / f"split{j}.json").read_text()) for j in range(3)]
    held = [set(full["train"]) - set(p["train"]) for p in parts]
    assert all(held) and not (held[0] & held[1]) and not (held[0] & held[2]) and not (held[1] & held[2])
    assert set().union(*held) == set(full["train"])
    assert all(p["val"] == full["val"] and p["test"] == full["test"] for p in parts)
    metrics = json.loads((base / "ckpt" / "config.json").read_text())["metrics"]
    assert len(metrics["members"]) == 3 and "srcc" in metrics["test"]
    assert result.best_epoch == int(np.median([m["best_epoch"] for m in metrics["members"]]))


def test_checkpoint_is_the_mean_of_its_members(ensemble_run):
    import torch
    from edgeiqa.train.checkpoint import load_checkpoint
    from edgeiqa.train.head_ensemble import HeadEnsemble

    _, base, _ = ensemble_run
    model, cfg = load_checkpoint(base / "ckpt")
    assert isinstance(model.head, HeadEnsemble) and cfg["head"]["ensemble"] == 3
    members = [load_checkpoint(base / "ckpt" / "members" / f"head{j}")[0].head for j in range(3)]
    x = torch.randn(5, model.head.in_features)
    with torch.no_grad():
        s, a = model.head.score_and_attributes(x)
        parts = [m.score_and_attributes(x) for m in members]
    np.testing.assert_allclose(s.numpy(), np.mean([p[0].numpy() for p in parts], axis=0), atol=1e-6)
    np.testing.assert_allclose(a.numpy(), np.mean([p[1].numpy() for p in parts], axis=0), atol=1e-6)


def test_exported_graph_scores_as_the_ensemble_and_keeps_the_head_float(ensemble_run):
    import onnx
    import onnxruntime as ort
    import torch
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import CheckOptions, ExportOptions, GraphOptions
    from edgeiqa.train.checkpoint import load_checkpoint

    _, base, root = ensemble_run
    bundle = base / "bundle"
    export_bundle(base / "ckpt", bundle, ExportOptions(graphs=GraphOptions(("fp32", "int8-cpu")),
                                                       checks=CheckOptions(enforce=False)))
    model, cfg = load_checkpoint(base / "ckpt")
    frames = np.stack([model.preprocess.load(p) for p in sorted((root / "images").glob("*.png"))[:6]])
    sess = ort.InferenceSession(str(bundle / "model.fp32.onnx"), providers=["CPUExecutionProvider"])
    score, attrs = sess.run(None, {"frames": frames})
    with torch.no_grad():
        t, a = model.head.score_and_attributes(model.embed(torch.from_numpy(frames)).float())
    lo, hi = cfg["label_scale"]["lo"], cfg["label_scale"]["hi"]
    np.testing.assert_allclose(score, lo + t.numpy() * (hi - lo), atol=1e-3)
    np.testing.assert_allclose(attrs, a.numpy(), atol=1e-4)
    # int8-cpu: the members, their mean and the MOS mapping stay float (no Q/DQ reads a head weight
    # or anything computed from one)
    q = onnx.load(str(bundle / "model.int8-cpu.onnx"))
    assert any(n.op_type == "QuantizeLinear" for n in q.graph.node)  # the backbone is int8
    tainted, after_head = set(), []
    for node in q.graph.node:
        if any(i.startswith("head.") or i in tainted for i in node.input):
            after_head.append(node)
            tainted.update(node.output)
    assert after_head and not [n.name for n in after_head if n.op_type in ("QuantizeLinear", "DequantizeLinear")]


def test_ensemble_needs_the_frozen_regime(tmp_path, csv_dataset):
    from edgeiqa.train.trainer import train

    with pytest.raises(ValueError, match="frozen"):
        train(train_config(csv_dataset, tmp_path / "o", regime="full", head_ensemble=2, image_size=32))
