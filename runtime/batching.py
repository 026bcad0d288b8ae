"""Run a fixed-batch model on any number of frames: chunk, pad the last chunk, drop the padding.

Static-batch bundles (export --static-batch N, for DLA and SoCs without dynamic shapes) and
TensorRT profiles whose minimum batch is above 1 both need it; the padding repeats the last real
frame, so it never changes a real frame's score.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def run_fixed_batch(run: Callable[[np.ndarray], np.ndarray], frames: np.ndarray, batch: int) -> np.ndarray:
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    out = []
    for i in range(0, len(frames), batch):
        chunk = frames[i:i + batch]
        n = len(chunk)
        if n < batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - n, axis=0)])
        out.append(np.asarray(run(chunk))[:n])
    return np.concatenate(out) if out else np.zeros((0,), np.float32)
