"""Session-wide checkpoints and bundles (training and exporting once keeps the suite fast)."""

from __future__ import annotations

from pathlib import Path

from conftest import make_quality_images


def write_dataset(root: Path) -> Path:
    import csv

    rows = make_quality_images(root / "images", n=30)
    with open(root / "data.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "mos", "ref"])
        w.writerows([(f"images/{n}", f"{m:.3f}", r) for n, m, r in rows])
    return root


def train_checkpoint(root: Path, out: Path, **overrides) -> Path:
    from edgeiqa.train.config import TrainConfig
    from edgeiqa.train.trainer import train

    cfg = dict(dataset="csv", data_root=str(root), csv="data.csv", backbone="tiny-vit", head="select", hidden=32,
               epochs=3, batch_size=8, lr=3e-3, out=str(out), seed=8, cache_dir=str(out.parent / "cache"))
    cfg.update(overrides)
    train(TrainConfig(**cfg))
    return out
