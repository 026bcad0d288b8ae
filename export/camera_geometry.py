"""The camera front end's arithmetic, shared by the PyTorch front end (export/yuv_input.py, at
export) and the ONNX one (export/derive.py, from a bundle, no torch): the YUV -> RGB coefficients
and Pillow's own antialiasing taps for the runtime's resize rule."""

from __future__ import annotations

import numpy as np
from PIL import Image

# R = Y + a V; G = Y - b U - c V; B = Y + d U  (Y in 0..1, U and V in -0.5..0.5)
COEFFICIENTS = {"bt601": (1.402, 0.344136, 0.714136, 1.772), "bt709": (1.5748, 0.187324, 0.468124, 1.8556)}
KERNELS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
           "lanczos": Image.Resampling.LANCZOS, "nearest": Image.Resampling.NEAREST}


def resize_taps(n_in: int, n_out: int, start: float, end: float, interpolation: str) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's weights for resizing [start, end) of n_in samples to n_out: (index, weight), each [n_out, K]."""
    eye = Image.fromarray(np.eye(n_in, dtype=np.float32), mode="F")
    m = np.asarray(eye.resize((n_out, n_in), KERNELS[interpolation], box=(start, 0, end, n_in), reducing_gap=None))
    k = max(1, int((m != 0).sum(axis=0).max()))
    idx = np.zeros((n_out, k), np.int64)
    w = np.zeros((n_out, k), np.float32)
    for j in range(n_out):
        nz = np.flatnonzero(m[:, j])
        idx[j, :len(nz)], w[j, :len(nz)] = nz, m[nz, j]
    return idx, w


def source_box(frame_h: int, frame_w: int, height: int, width: int, rule: str) -> tuple[float, float, float, float]:
    """The part of the frame the runtime's resize rule maps onto the model input: all of it
    ("squash"), or the centred region with the model's aspect ("crop")."""
    if rule == "squash":
        return 0.0, 0.0, float(frame_w), float(frame_h)
    scale = max(width / frame_w, height / frame_h)
    cw, ch = width / scale, height / scale
    x0, y0 = (frame_w - cw) / 2, (frame_h - ch) / 2
    return x0, y0, x0 + cw, y0 + ch
