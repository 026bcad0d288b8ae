"""Shared fixtures: real image files in real formats, written to tmp_path; no network."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared"


def make_quality_images(folder: Path, n: int = 24, size: int = 40, seed: int = 0) -> list[tuple[str, float, str]]:
    """Smooth random scenes degraded by noise of increasing strength; MOS falls with the noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        ref = f"ref{i % 6}"
        base_rng = np.random.default_rng(i % 6)
        low = base_rng.integers(0, 255, (5, 5, 3)).astype(np.uint8)
        base = np.asarray(Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float64)
        level = (i // 6) / max((n // 6) - 1, 1)
        img = np.clip(base + rng.normal(0, 60 * level, base.shape), 0, 255).astype(np.uint8)
        name = f"img_{i:03d}.png"
        Image.fromarray(img).save(folder / name)
        rows.append((name, 100.0 * (1 - level) + rng.normal(0, 2), ref))
    return rows


def write_quality_csv(root: Path, **images) -> Path:
    """make_quality_images under root/images plus root/data.csv (path,mos,ref); returns root."""
    rows = make_quality_images(root / "images", **images)
    with open(root / "data.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "mos", "ref"])
        w.writerows([(f"images/{n}", f"{m:.3f}", r) for n, m, r in rows])
    return root


@pytest.fixture
def csv_dataset(tmp_path: Path) -> Path:
    root = write_quality_csv(tmp_path / "data")
    return root


@pytest.fixture
def photo(tmp_path) -> Path:
    """A real photograph (scikit-image's coffee) as a JPEG file."""
    import skimage.data

    p = tmp_path / "coffee.jpg"
    Image.fromarray(skimage.data.coffee()).save(p, quality=92)
    return p


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEIQA_CACHE", str(tmp_path / "cache"))


def train_config(data_root: Path, out: Path, **overrides):
    from edgeiqa.train.config import TrainConfig

    base = dict(dataset="csv", data_root=str(data_root), csv="data.csv", backbone="tiny-vit", head="gated",
                hidden=32, epochs=3, batch_size=8, lr=3e-3, out=str(out), seed=8)
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(dataset root, checkpoint) of a tiny select-head model, trained once per session."""
    from bundles import train_checkpoint, write_dataset

    base = tmp_path_factory.mktemp("trained")
    root = write_dataset(base / "data")
    return root, train_checkpoint(root, base / "ckpt")


@pytest.fixture(scope="session")
def bundle(trained, tmp_path_factory) -> Path:
    """An exported fp32 + int8 bundle of `trained`."""
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import ExportOptions, GraphOptions

    out = tmp_path_factory.mktemp("bundle") / "b"
    export_bundle(trained[1], out, ExportOptions(graphs=GraphOptions(("fp32", "fp16", "int8", "int8-cpu",
                                                                             "int8-cpu-avx2", "int8-dynamic"))))
    return out
