"""What a camera team asks of a quality score: does it order versions of one photo correctly?

On graded distortions (one clean crop, one distortion type, levels 1-5) the right order is known
without any rating: cleaner above worse. Two numbers summarise it, computed within each
(photo crop, distortion) group with the clean crop as level 0: the mean Spearman between score
and -level, and the share of (cleaner, worse) pairs scored in that order (ties count as wrong).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from edgeiqa.train.metrics import srcc


def graded_ordering(groups: Sequence[str], levels: Sequence[int], scores: Sequence[float]) -> dict[str, float]:
    """groups: a key per image (same key = same clean content and distortion type); levels: 0 = clean."""
    by_group: dict[str, list[tuple[int, float]]] = {}
    for g, lv, s in zip(groups, levels, scores):
        by_group.setdefault(g, []).append((int(lv), float(s)))
    rhos, right, pairs = [], 0, 0
    for items in by_group.values():
        lv = np.array([i[0] for i in items], dtype=np.float64)
        sc = np.array([i[1] for i in items], dtype=np.float64)
        if len(set(lv.tolist())) < 2:
            continue
        rho = srcc(sc, -lv)
        rhos.append(0.0 if np.isnan(rho) else rho)  # constant scores order nothing
        cleaner = lv[:, None] < lv[None, :]
        right += int((cleaner & (sc[:, None] > sc[None, :])).sum())
        pairs += int(cleaner.sum())
    if not rhos:
        raise ValueError("no group holds two levels: nothing to order")
    return {"mean_spearman": float(np.mean(rhos)), "pairs_right": right / pairs, "groups": len(rhos),
            "pairs": pairs}


def synthetic_groups(rows: Sequence[dict[str, str]]) -> tuple[list[str], list[int]]:
    """Group keys and levels of synthetic.csv rows; each clean crop joins every group of its crop."""
    keys, levels = [], []
    for r in rows:
        crop = r["path"].rsplit("/", 1)[-1].split("_c", 1)[-1].split("_", 1)[0]
        keys.append(f"{r['ref']}|c{crop}|{r['distortion']}")
        levels.append(int(r["level"]))
    return keys, levels


def expand_references(keys: list[str], levels: list[int], scores: list[float]
                      ) -> tuple[list[str], list[int], list[float]]:
    """Copy each clean crop (distortion 'reference') into every distortion group of its crop."""
    clean = {k.rsplit("|", 1)[0]: s for k, lv, s in zip(keys, levels, scores) if k.endswith("|reference")}
    out_k, out_l, out_s = [], [], []
    for k, lv, s in zip(keys, levels, scores):
        if k.endswith("|reference"):
            continue
        out_k.append(k), out_l.append(lv), out_s.append(s)
    for g in sorted(set(out_k)):
        base = g.rsplit("|", 1)[0]
        if base in clean:
            out_k.append(g), out_l.append(0), out_s.append(clean[base])
    return out_k, out_l, out_s
