"""A classical no-reference baseline: hand-crafted cues + a small regressor fitted on train.

The trained model has to beat this on the same held-out images, or it has learned nothing a few
lines of image statistics could not. Cues: sharpness (variance of the Laplacian), noise level
(robust MAD of a high-pass residual), RMS contrast, mean brightness, colourfulness
(Hasler & Suesstrunk 2003), saturation, and JPEG blockiness (gradient across 8x8 block edges
over gradient inside blocks), each on the frame the model sees.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

FEATURES = ("sharpness", "noise", "contrast", "brightness", "colourfulness", "saturation", "blockiness",
            "dark_fraction", "bright_fraction", "unique_colours")


def _grey(frame: np.ndarray) -> np.ndarray:
    f = frame.astype(np.float64)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def cues(frame: np.ndarray) -> np.ndarray:
    g = _grey(frame)
    lap = ndimage.laplace(g)
    residual = g - ndimage.median_filter(g, size=3)
    f = frame.astype(np.float64)
    rg, yb = f[..., 0] - f[..., 1], 0.5 * (f[..., 0] + f[..., 1]) - f[..., 2]
    colourful = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    mx, mn = f.max(axis=2), f.min(axis=2)
    saturation = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0).mean()
    dx = np.abs(np.diff(g, axis=1))
    cols = np.arange(dx.shape[1])
    edge = dx[:, (cols % 8) == 7].mean() if dx.shape[1] >= 8 else 0.0
    inner = dx[:, (cols % 8) != 7].mean() + 1e-6
    quantised = frame[::2, ::2].reshape(-1, 3) // 4
    unique = len(np.unique(quantised[:, 0].astype(np.int64) * 4096 + quantised[:, 1] * 64 + quantised[:, 2]))
    return np.array([np.log1p(lap.var()), np.log1p(1.4826 * np.median(np.abs(residual))), g.std() / 255,
                     g.mean() / 255, colourful / 255, saturation, edge / inner, (g < 16).mean(), (g > 239).mean(),
                     np.log1p(unique)])


class ClassicalBaseline:
    """Gradient-boosted trees on the cues (small, fast, no tuning beyond sane defaults)."""

    def __init__(self, seed: int = 0) -> None:
        from sklearn.ensemble import GradientBoostingRegressor

        self.model = GradientBoostingRegressor(n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8,
                                               random_state=seed)

    def fit(self, frames: list[np.ndarray], mos: np.ndarray) -> ClassicalBaseline:
        self.model.fit(np.stack([cues(f) for f in frames]), mos)
        return self

    def predict(self, frames: list[np.ndarray]) -> np.ndarray:
        return self.model.predict(np.stack([cues(f) for f in frames]))
