"""The camera front end baked into the graph: raw NV12 / I420 planes in, the model's input out.

Firmware hands the ISP's buffer to the engine as it is: uint8 [N, H*3/2, W]. The graph casts it
(the only consumer of a uint8 input TensorRT allows), splits the planes, repeats each chroma
sample over its 2x2 block, converts to RGB with the standard's published coefficients, and - for
a camera frame of another size than the model's - applies the runtime's resize rule ("crop":
cover, centre crop; "squash") with antialiasing as two passes of fixed taps. The taps are
Pillow's own antialiasing weights, read off by resizing an identity image in float mode, so the
graph resizes as the RGB path does, rounding to whole levels where that path holds uint8 (the
converted frame, each pass): a model can move by whole MOS points on rounding noise alone (one
CLIVE photo moved 2.2 points at 1080p), so the camera graph keeps the RGB path's values. Nothing
of this runs on the camera's CPU.
"""

from __future__ import annotations

import numpy as np
import torch
from edgeiqa.export.camera_geometry import COEFFICIENTS, resize_taps, source_box
from edgeiqa.runtime.input_spec import InputSpec
from torch import nn

MAX_GATHER_TAPS = 24  # beyond this many taps per output (a large downscale) one dense MatMul is cheaper


class Resample1d(nn.Module):
    """One antialiased resize pass along `dim` (2: rows, 3: columns) of 0..255 values.

    K Gather + multiply-adds for the usual few taps (TensorRT-friendly, no dense matrix); one
    MatMul with the dense weight matrix when the downscale is so large that taps would be many.
    """

    def __init__(self, idx: np.ndarray, w: np.ndarray, n_in: int, dim: int) -> None:
        super().__init__()
        self.dim, self.dense = dim, idx.shape[1] > MAX_GATHER_TAPS
        if self.dense:
            m = np.zeros((n_in, idx.shape[0]), np.float32)  # [in, out]
            for j in range(idx.shape[0]):
                np.add.at(m[:, j], idx[j], w[j])
            self.register_buffer("m", torch.from_numpy(m if dim == 3 else m.T.copy()), persistent=False)
            return
        self.register_buffer("idx", torch.from_numpy(idx.T.copy()), persistent=False)  # [K, out]
        shape = [1, 1, 1, 1]
        shape[dim] = w.shape[0]
        self.register_buffer("w", torch.from_numpy(w.T.copy()).view(w.shape[1], *shape), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dense:
            out = x @ self.m if self.dim == 3 else self.m @ x
        else:
            out = x.index_select(self.dim, self.idx[0]) * self.w[0]
            for k in range(1, self.idx.shape[0]):
                out = out + x.index_select(self.dim, self.idx[k]) * self.w[k]
        return out.clamp(0.0, 255.0).round()  # Pillow clips each pass's overshoot (bicubic ringing) and rounds


class YuvInput(nn.Module):
    """uint8 [N, FH*3/2, FW] NV12 or I420 -> normalised float [N, 3, H, W] for the backbone."""

    def __init__(self, fmt: str, matrix: str, yuv_range: str, frame_h: int, frame_w: int, height: int, width: int,
                 mean: tuple[float, ...], std: tuple[float, ...], interpolation: str = "bicubic",
                 rule: str = "crop") -> None:
        super().__init__()
        if fmt not in ("nv12", "i420") or matrix not in COEFFICIENTS or yuv_range not in ("limited", "full"):
            raise ValueError(f"unsupported YUV input {fmt}/{matrix}/{yuv_range}")
        if frame_h % 2 or frame_w % 2:
            raise ValueError(f"4:2:0 frames need an even size, got {frame_w}x{frame_h}")
        self.fmt, self.fh, self.fw = fmt, frame_h, frame_w
        a, b, c, d = COEFFICIENTS[matrix]
        y_off, y_gain, c_gain = (16.0, 255.0 / 219.0, 255.0 / 224.0) if yuv_range == "limited" else (0.0, 1.0, 1.0)
        self.y_off, self.y_gain, self.c_gain = y_off, y_gain, c_gain
        self.a, self.b, self.c, self.d = a, b, c, d
        self.resize = nn.Identity()
        if (frame_h, frame_w) != (height, width):
            x0, y0, x1, y1 = source_box(frame_h, frame_w, height, width, rule)
            self.resize = nn.Sequential(
                Resample1d(*resize_taps(frame_w, width, x0, x1, interpolation), frame_w, dim=3),
                Resample1d(*resize_taps(frame_h, height, y0, y1, interpolation), frame_h, dim=2))
        m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * s), persistent=False)
        self.register_buffer("shift", m / s, persistent=False)

    def rgb(self, planes: torch.Tensor) -> torch.Tensor:
        """uint8 planes -> float RGB [N, 3, FH, FW]: whole levels 0..255, as an RGB frame holds them."""
        x = planes.float()  # first and only consumer of the uint8 input
        h, w = self.fh, self.fw
        y = (x[:, :h, :] - self.y_off) * self.y_gain
        chroma = x[:, h:, :]
        if self.fmt == "nv12":
            c = chroma.reshape(-1, h // 2, w // 2, 2)
            u, v = c[..., 0], c[..., 1]
        else:
            c = chroma.reshape(-1, 2, h // 2, w // 2)
            u, v = c[:, 0], c[:, 1]

        def up(p: torch.Tensor) -> torch.Tensor:  # each chroma sample over its 2x2 block
            p = (p - 128.0) * self.c_gain
            return p[:, :, None, :, None].expand(-1, h // 2, 2, w // 2, 2).reshape(-1, h, w)

        u, v = up(u), up(v)
        r = y + self.a * v
        g = y - self.b * u - self.c * v
        b = y + self.d * u
        return torch.stack([r, g, b], dim=1).clamp(0.0, 255.0).round()

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        return self.resize(self.rgb(planes)) * self.scale - self.shift


def graph_front(spec: InputSpec) -> nn.Module | None:
    """The front end a graph of this input needs before its backbone: None for RGB (the scoring
    graph normalises uint8 frames itself)."""
    if not spec.is_yuv:
        return None
    fh, fw = spec.frame_size
    return YuvInput(spec.pixel_format, spec.yuv_matrix, spec.yuv_range, fh, fw, spec.height, spec.width, spec.mean,
                    spec.std, spec.interpolation, spec.resize)
