"""Augmentations that keep an IQA label true.

A rating describes the pixels the raters saw: resizing changes blur and noise, colour jitter
changes colourfulness, blur is a distortion. What is left is geometry that moves no pixel's
neighbourhood: horizontal flips and crops at full resolution.
"""

from __future__ import annotations

import numpy as np


def augment(frames: np.ndarray, rng: np.random.Generator, crop: int = 0) -> np.ndarray:
    """uint8 [N, H, W, 3] -> flipped at random, and cropped to crop x crop at random when crop > 0."""
    n, h, w, _ = frames.shape
    out = []
    for f in frames:
        if rng.random() < 0.5:
            f = f[:, ::-1]
        if 0 < crop < min(h, w):
            top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
            f = f[top:top + crop, left:left + crop]
        out.append(f)
    return np.ascontiguousarray(np.stack(out))
