"""Seeded train/val/test splits, by reference content where images share one; saved and reloaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from edgeiqa.train.data.records import DatasetError, IQADataset

SPLITS = ("train", "val", "test")


def make_split(ds: IQADataset, seed: int, ratios: tuple[float, float, float] = (0.7, 0.1, 0.2),
               official: bool = False) -> dict[str, list[int]]:
    """Indices per split. Grouped by `ref` when the dataset is split by reference, so no content
    appears on both sides (KADID, synthetic); the dataset's own split when `official`."""
    if official:
        out = {k: [i for i, s in enumerate(ds.samples) if s.split == k] for k in SPLITS}
        if not out["train"] or not out["test"]:
            raise DatasetError(f"{ds.name} has no official split")
        return out
    if len(ratios) != 3 or min(ratios) < 0 or sum(ratios) <= 0:
        raise ValueError(f"split ratios must be three non-negative numbers, got {ratios}")
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(ds.samples):
        key = s.ref if (ds.split_by_ref and s.ref) else f"#{i}"
        groups.setdefault(key, []).append(i)
    keys = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    r = np.asarray(ratios, dtype=np.float64) / sum(ratios)
    n_train = int(round(r[0] * len(keys)))
    n_val = int(round(r[1] * len(keys)))
    if len(keys) >= 3:  # every split gets at least one group when there are enough
        n_train = min(max(n_train, 1), len(keys) - 2)
        n_val = min(max(n_val, 1 if r[1] > 0 else 0), len(keys) - n_train - 1)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(keys))}
    return {k: sorted(i for g in order[a:b] for i in groups[keys[g]]) for k, (a, b) in bounds.items()}


def save_split(path: Path, ds: IQADataset, split: dict[str, list[int]], seed: int) -> None:
    data = {"dataset": ds.name, "seed": seed,
            **{k: [ds.samples[i].name or str(ds.samples[i].path) for i in idx] for k, idx in split.items()}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def load_split(path: Path, ds: IQADataset) -> dict[str, list[int]]:
    """Map the names a split file lists back to sample indices; every name must be present."""
    data = json.loads(Path(path).read_text())
    by_name = {(s.name or str(s.path)): i for i, s in enumerate(ds.samples)}
    out: dict[str, list[int]] = {}
    for k in SPLITS:
        missing = [n for n in data.get(k, []) if n not in by_name]
        if missing:
            raise DatasetError(f"split file {path} names {len(missing)} images not in {ds.name}, e.g. {missing[:3]}")
        out[k] = [by_name[n] for n in data.get(k, [])]
    return out


def make_folds(ds: IQADataset, k: int, seed: int, val_ratio: float = 0.1) -> list[dict[str, list[int]]]:
    """K-fold cross-validation: fold i tests on the i-th of k seeded, content-disjoint parts.

    The other k-1 parts give an inner validation split (val_ratio of their groups, seeded by
    (seed, i)) on which the checkpoint is chosen; the test fold is never looked at until the end.
    """
    if k < 2:
        raise ValueError(f"cross-validation needs k >= 2 folds, got {k}")
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(ds.samples):
        groups.setdefault(s.ref if (ds.split_by_ref and s.ref) else f"#{i}", []).append(i)
    keys = sorted(groups)
    if len(keys) < 2 * k:
        raise ValueError(f"{ds.name}: {len(keys)} independent images/groups are too few for {k} folds")
    order = [keys[j] for j in np.random.default_rng(seed).permutation(len(keys))]
    parts = [order[i::k] for i in range(k)]
    folds = []
    for i in range(k):
        rest = [g for j, p in enumerate(parts) if j != i for g in p]
        rest = [rest[j] for j in np.random.default_rng([seed, i]).permutation(len(rest))]
        n_val = max(1, int(round(val_ratio * len(rest))))
        folds.append({"train": sorted(x for g in rest[n_val:] for x in groups[g]),
                      "val": sorted(x for g in rest[:n_val] for x in groups[g]),
                      "test": sorted(x for g in parts[i] for x in groups[g])})
    return folds
