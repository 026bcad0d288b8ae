"""IQA correlation metrics: SRCC, KRCC, PLCC (raw and after the 4-parameter logistic), RMSE."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, stats


def _rank(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), as Spearman's rho needs."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    boundaries = np.r_[True, sorted_x[1:] != sorted_x[:-1], True]
    starts = np.flatnonzero(boundaries)
    ranks_sorted = np.repeat((starts[:-1] + starts[1:] - 1) / 2.0 + 1.0, np.diff(starts))
    ranks = np.empty_like(ranks_sorted)
    ranks[order] = ranks_sorted
    return ranks


def plcc(pred: np.ndarray, mos: np.ndarray) -> float:
    p, m = np.asarray(pred, np.float64), np.asarray(mos, np.float64)
    p, m = p - p.mean(), m - m.mean()
    denom = np.sqrt((p * p).sum() * (m * m).sum())
    return float((p * m).sum() / denom) if denom > 0 else float("nan")


def srcc(pred: np.ndarray, mos: np.ndarray) -> float:
    return plcc(_rank(np.asarray(pred, np.float64)), _rank(np.asarray(mos, np.float64)))


def krcc(pred: np.ndarray, mos: np.ndarray) -> float:
    """Kendall's tau-b (ties handled); scipy's O(n log n) implementation."""
    return float(stats.kendalltau(pred, mos).statistic)


def rmse(pred: np.ndarray, mos: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - np.asarray(mos, np.float64)) ** 2)))


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """VQEG's monotonic 4-parameter logistic mapping objective scores onto the MOS scale."""
    with np.errstate(over="ignore"):  # exp overflow saturates the logistic, which is the intent
        return (b1 - b2) / (1.0 + np.exp(-(x - b3) / (np.abs(b4) + 1e-12))) + b2


def fit_logistic(pred: np.ndarray, mos: np.ndarray) -> np.ndarray:
    pred, mos = np.asarray(pred, np.float64), np.asarray(mos, np.float64)
    p0 = [mos.max(), mos.min(), float(np.median(pred)), float(pred.std() or 1.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            params, _ = optimize.curve_fit(logistic4, pred, mos, p0=p0, maxfev=20000)
        except (RuntimeError, optimize.OptimizeWarning, ValueError, TypeError):
            return pred  # no fit: fall back to the raw scores, PLCC stays the raw one
    return logistic4(pred, *params)


MIN_POINTS_FOR_FIT = 5  # the logistic has 4 parameters: with fewer points it fits anything


def iqa_metrics(pred: np.ndarray, mos: np.ndarray) -> dict[str, float]:
    """SRCC/KRCC/PLCC/RMSE; the fitted PLCC/RMSE are NaN (and `fitted` 0) below 5 points."""
    pred, mos = np.asarray(pred, np.float64).ravel(), np.asarray(mos, np.float64).ravel()
    if pred.shape != mos.shape or pred.size < 3:
        raise ValueError(f"need >= 3 paired scores, got {pred.shape} and {mos.shape}")
    out = {"srcc": srcc(pred, mos), "krcc": krcc(pred, mos), "plcc": plcc(pred, mos),
           "plcc_fitted": float("nan"), "rmse": rmse(pred, mos), "rmse_fitted": float("nan"),
           "n": int(pred.size), "fitted": 0}
    if pred.size >= MIN_POINTS_FOR_FIT:
        fitted = fit_logistic(pred, mos)
        out.update(plcc_fitted=plcc(fitted, mos), rmse_fitted=rmse(fitted, mos), fitted=1)
    return out
