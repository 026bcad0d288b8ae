import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import train_config
from edgeiqa.train.trainer import train


def test_protocol_runs_the_grid_and_writes_one_table(csv_dataset, tmp_path):
    out = tmp_path / "proto"
    cmd = [sys.executable, "-m", "edgeiqa", "protocol", "--datasets", f"csv={csv_dataset}", "--heads", "relu,select",
           "--seeds", "8,19", "--backbone", "tiny-vit", "--hidden", "16", "--epochs", "2", "--batch-size", "8",
           "--cross", "csv:csv", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    table = json.loads((out / "protocol.json").read_text())
    rows = {(r["dataset"], r["head"]): r for r in table["rows"]}
    assert set(rows) == {("csv", "relu"), ("csv", "select"), ("csv->csv", "relu"), ("csv->csv", "select")}
    for r in rows.values():
        assert r["seeds"] == [8, 19]
        assert -1 <= r["srcc_mean"] <= 1 and -1 <= r["srcc_median"] <= 1
    runs = table["runs"]
    assert len(runs) == 4
    relu = [x["test"]["srcc"] for x in runs if x["head"] == "relu"]
    assert rows[("csv", "relu")]["srcc_mean"] == pytest.approx(sum(relu) / 2)
    md = (out / "protocol.md").read_text()
    assert "| csv | select |" in md and (out / "protocol.csv").read_text().startswith("dataset,head")


@pytest.mark.parametrize("backbone,head", [("tiny-vit", "gated"), ("tiny-resnet", "select")])
def test_analyze_writes_the_three_pngs(csv_dataset, tmp_path, backbone, head):
    res = train(train_config(csv_dataset, tmp_path / "run", backbone=backbone, head=head, epochs=2,
                             image_size=32))
    out = subprocess.run([sys.executable, "-m", "edgeiqa", "analyze", str(res.out), "--out", str(tmp_path / "a"),
                          "--n-cam", "3"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("grad_cam.png", "tsne.png", "activations.png"):
        data = (tmp_path / "a" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_grad_cam_maps_are_normalised_and_spatial(csv_dataset, tmp_path):
    import numpy as np
    from edgeiqa.train.analysis import grad_cam
    from edgeiqa.train.build import build_model

    model = build_model(train_config(csv_dataset, tmp_path, backbone="tiny-vit"))
    frames = np.stack([model.preprocess.load(p) for p in sorted(Path(csv_dataset, "images").glob("*.png"))[:4]])
    cams = grad_cam(model, frames)
    assert cams.shape == (4, 32, 32)
    assert cams.min() >= 0 and cams.max() <= 1 + 1e-6
