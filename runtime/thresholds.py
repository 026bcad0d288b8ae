"""Thresholds people can set: a number, a category of the rating scale, or a percentile.

A bare score (say 52) means little to an integrator. The manifest can carry two references:
- `score.categories`: the rating scale's five categories (bad, poor, fair, good, excellent) as
  four MOS boundaries - CLIVE's raters moved a slider over a 0-100 scale marked with these five
  labels at equal intervals, so its boundaries are 20, 40, 60, 80;
- `score.percentiles`: the scores of rated photos the model never trained on (the release recipe
  uses its out-of-fold scores), as 101 values, the 0th to the 100th percentile.
`select --threshold` takes `45`, `fair` (the lower edge of fair) or `p10` / `10%` (the score 10%
of those photos fall below).
"""

from __future__ import annotations

import bisect
import re
from typing import Any

import numpy as np

CATEGORY_NAMES = ("bad", "poor", "fair", "good", "excellent")


class ThresholdError(ValueError):
    pass


def category(score: float, manifest: dict[str, Any]) -> str | None:
    """The rating-scale category of a score, or None when the bundle records none."""
    cats = manifest.get("score", {}).get("categories")
    if not cats:
        return None
    return cats["names"][bisect.bisect_right(cats["boundaries"], float(score))]


def percentile(score: float, manifest: dict[str, Any]) -> float | None:
    """Share (0-100) of the reference photos scoring below `score`, or None without a reference."""
    ref = manifest.get("score", {}).get("percentiles")
    if not ref:
        return None
    values = np.asarray(ref["values"], np.float64)
    return float(np.interp(score, values, np.linspace(0.0, 100.0, len(values))))


def percentile_values(scores: np.ndarray, source: str) -> dict[str, Any]:
    """The manifest block: 101 percentiles of `scores`, and where they came from."""
    return {"values": [round(float(v), 4) for v in np.percentile(np.asarray(scores, np.float64), np.arange(101))],
            "n": int(len(scores)), "source": source}


def parse_threshold(text: str | float, manifest: dict[str, Any]) -> float:
    """'45' -> 45.0; 'fair' -> the lower boundary of fair; 'p10' or '10%' -> the 10th percentile."""
    if isinstance(text, (int, float)):
        return float(text)
    t = str(text).strip().lower()
    try:
        return float(t)
    except ValueError:
        pass
    score = manifest.get("score", {})
    if t in CATEGORY_NAMES:
        cats = score.get("categories")
        if not cats:
            raise ThresholdError(f"threshold {text!r}: this bundle records no rating categories; give a score")
        i = cats["names"].index(t)
        if i == 0:
            raise ThresholdError(f"threshold {text!r}: '{t}' is the lowest category; every frame is at least {t}")
        return float(cats["boundaries"][i - 1])
    m = re.fullmatch(r"p(\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)%", t)
    if m:
        q = float(m.group(1) or m.group(2))
        if not 0 <= q <= 100:
            raise ThresholdError(f"threshold {text!r}: a percentile is 0..100")
        ref = score.get("percentiles")
        if not ref:
            raise ThresholdError(f"threshold {text!r}: this bundle records no score percentiles; give a score")
        values = np.asarray(ref["values"], np.float64)
        return float(np.interp(q, np.linspace(0.0, 100.0, len(values)), values))
    raise ThresholdError(f"threshold {text!r}: give a score (45), a category ({', '.join(CATEGORY_NAMES[1:])}) "
                         "or a percentile (p10 or 10%)")
