"""How a model judges camera faults on photos it never trained on.

Every held-out photo gets every fault kind at every level (a rendering seed training never uses),
and a share of broken frames. Reported, per kind: the mean within-(photo, kind) Spearman between
score and -level (clean = level 0) and the share of (cleaner, worse) pairs ordered right; broken
frames: the share scored below the 5th percentile of the held-out rated photos' scores; each
attribute's Spearman against its true level; on the authentic photos, the exposure attribute
against mean luminance and the blur attribute against MOS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from edgeiqa.train.data.camera_faults import ATTRIBUTE_NAMES, BROKEN, FAULTS, LEVELS, applies, srgb_to_linear
from edgeiqa.train.data.fault_copies import FaultCopy, labels_of, photo_stats_of, render_copies
from edgeiqa.train.graded import graded_ordering
from edgeiqa.train.metrics import srcc

EVAL_SEED_OFFSET = 1_000_003  # renders for evaluation never share a random stream with training's


def eval_copies(photos: list[Path], cache_root: Path, seed: int, broken_each: int = 2) -> list[FaultCopy]:
    """Every kind at every level for each photo it is a fault for (camera_faults.applies: no
    brightening of a night shot), plus `broken_each` frames of every broken kind."""
    stats = photo_stats_of(photos, cache_root / "camera-faults")
    plan = [(i, kind, lv) for i in range(len(photos)) for kind in FAULTS if applies(kind, stats[i]) for lv in LEVELS]
    rng = np.random.default_rng(seed + EVAL_SEED_OFFSET)
    plan += [(int(rng.integers(len(photos))), f"broken:{b}", 0) for b in sorted(BROKEN) for _ in range(broken_each)]
    return render_copies(photos, plan, cache_root / "camera-faults", seed + EVAL_SEED_OFFSET)


def fault_report(clean_scores: np.ndarray, clean_attrs: np.ndarray | None, copies: list[FaultCopy],
                 copy_scores: np.ndarray, copy_attrs: np.ndarray | None, mos: np.ndarray,
                 rated_scores: np.ndarray, photos: list[Path] | None = None) -> dict:
    """Metrics from the scores (and attributes) of clean photos, their copies and rated photos."""
    out: dict = {"kinds": {}}
    for kind in FAULTS:
        keys, levels, scores = [], [], []
        for i, s in enumerate(clean_scores):
            keys.append(f"{i}"), levels.append(0), scores.append(float(s))
        for c, s in zip(copies, copy_scores):
            if c.kind == kind:
                keys.append(f"{c.source}"), levels.append(c.level), scores.append(float(s))
        out["kinds"][kind] = graded_ordering(keys, levels, scores)
    scored_broken = [(c.kind.removeprefix("broken:"), float(s)) for c, s in zip(copies, copy_scores)
                     if c.kind.startswith("broken:")]
    broken = np.array([s for _, s in scored_broken])
    p5 = float(np.percentile(rated_scores, 5))
    out["broken"] = {"n": len(broken), "below_p5": float((broken < p5).mean()) if len(broken) else float("nan"),
                     "p5_rated": p5, "max_broken": float(broken.max()) if len(broken) else float("nan"),
                     # which frames a camera would pass: the kind is what a fix has to target
                     "above_p5": sorted(k for k, s in scored_broken if s >= p5)}
    out["worst_kind_spearman"] = min(v["mean_spearman"] for v in out["kinds"].values())
    out["worst_kind_pairs"] = min(v["pairs_right"] for v in out["kinds"].values())
    if copy_attrs is not None and clean_attrs is not None:
        out["attributes"] = attribute_report(clean_attrs, copies, copy_attrs)
        if photos is not None:
            lum = np.array([float(srgb_to_linear(_small(p)).mean()) for p in photos])
            out["authentic"] = {
                "exposure_vs_mean_luminance": srcc(clean_attrs[:, ATTRIBUTE_NAMES.index("exposure")], lum),
                "blur_vs_mos": srcc(clean_attrs[:, ATTRIBUTE_NAMES.index("blur")], mos)}
    return out


def attribute_report(clean_attrs: np.ndarray, copies: list[FaultCopy], copy_attrs: np.ndarray) -> dict:
    """Spearman of each attribute with its true value over the clean photos and the copies that vary it."""
    varies = {name: tuple(kind for kind in FAULTS if labels_of(kind, LEVELS[-1]).as_list()[k])
              for k, name in enumerate(ATTRIBUTE_NAMES) if name != "broken"}
    out = {}
    for name, kinds in varies.items():
        k = ATTRIBUTE_NAMES.index(name)
        truth = [0.0] * len(clean_attrs) + [c.labels.as_list()[k] for c in copies if c.kind in kinds]
        pred = list(clean_attrs[:, k]) + [a[k] for c, a in zip(copies, copy_attrs) if c.kind in kinds]
        out[name] = srcc(np.array(pred), np.array(truth))
    k = ATTRIBUTE_NAMES.index("broken")
    is_broken = np.array([c.kind.startswith("broken:") for c in copies])
    out["broken_recall"] = float((copy_attrs[is_broken, k] > 0.5).mean()) if is_broken.any() else float("nan")
    not_broken = np.concatenate([clean_attrs[:, k], copy_attrs[~is_broken, k]])
    out["broken_false_alarms"] = float((not_broken > 0.5).mean())
    return out


def _small(path: Path) -> np.ndarray:
    from PIL import Image

    img = Image.open(path).convert("RGB")
    img.thumbnail((256, 256))
    return np.asarray(img)


@torch.no_grad()
def head_outputs(head: torch.nn.Module, emb: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores (training scale) and published attributes of cached embeddings."""
    head.eval()
    if getattr(head, "attributes", None) is None:
        return head(emb).numpy(), None
    s, a = head.score_and_attributes(emb)
    return s.numpy(), a.numpy()
