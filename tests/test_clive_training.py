"""A few real training steps on real rated photos (../shared/datasets/clive-train), when present."""

import csv

import numpy as np
import pytest
from conftest import SHARED

CLIVE = SHARED / "datasets" / "clive-train"
pytestmark = pytest.mark.skipif(not (CLIVE / "labels.csv").is_file(), reason="shared CLIVE photos not present")


@pytest.fixture(scope="module")
def clive_slice(tmp_path_factory):
    """24 CLIVE photos spread over the MOS range: a CSV pointing into the shared folder."""
    with open(CLIVE / "labels.csv", newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: float(r["mos"]))
    picked = rows[:: len(rows) // 24][:24]
    root = tmp_path_factory.mktemp("clive")
    with open(root / "slice.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "mos"])
        w.writerows((str(CLIVE / r["path"]), r["mos"]) for r in picked)
    return root


@pytest.mark.parametrize("regime", ["frozen", "partial"])
def test_lite0_trains_a_few_steps_on_clive_photos(clive_slice, tmp_path, regime):
    from conftest import train_config
    from edgeiqa.train.trainer import train

    cfg = train_config(clive_slice, tmp_path / regime, csv="slice.csv", backbone="efficientnet-lite0",
                       pretrained="true", regime=regime, image_size=160, epochs=2, batch_size=8, lr=1e-3,
                       backbone_lr=1e-4, train_crop=128, split_ratios=(0.6, 0.2, 0.2))
    res = train(cfg)
    losses = [h["train_loss"] for h in res.history]
    assert all(np.isfinite(losses)) and res.test["n"] >= 3
    from edgeiqa.train.checkpoint import load_checkpoint

    model, saved = load_checkpoint(res.out)
    assert saved["train"]["pool"] == "auto" and model.backbone.pool == "stats"
    if regime == "partial":  # the last stages moved, the first did not
        from edgeiqa.train.backbones import create_backbone

        ref = create_backbone("efficientnet-lite0", pretrained=True, image_size=160)
        first = model.backbone.model.model.blocks[0][0].conv_dw.weight
        last = model.backbone.model.model.blocks[-1][0].conv_pw.weight
        assert np.allclose(first.detach(), ref.model.model.blocks[0][0].conv_dw.weight.detach())
        assert not np.allclose(last.detach(), ref.model.model.blocks[-1][0].conv_pw.weight.detach())
