"""YUV 4:2:0 frames (NV12, I420) as camera ISPs hand them over, in plain numpy.

The runtime's own conversion both ways: a JPEG scored by an NV12 bundle is converted here, and a
raw .yuv file scored by an RGB bundle too. It is written from the standard's definition (Kr, Kb
and the code ranges), independently of the constant table the exported graph uses
(edgeiqa.export.yuv_input), so the tests that compare the two check each against the other.

Layout, both formats: uint8 [H * 3 / 2, W] - the Y plane (H rows of W), then the chroma:
NV12 interleaves U and V (H/2 rows of W: U0 V0 U1 V1 ...); I420 has the whole U plane
(H/2 x W/2) and then the whole V plane, packed row after row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PIXEL_FORMATS = ("rgb", "nv12", "i420")
YUV_FORMATS = ("nv12", "i420")
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}  # (Kr, Kb)
RANGES = ("limited", "full")


def _check(fmt: str, matrix: str, yuv_range: str) -> tuple[float, float]:
    if fmt not in YUV_FORMATS:
        raise ValueError(f"YUV format must be one of {', '.join(YUV_FORMATS)}, got {fmt!r}")
    if matrix not in MATRICES:
        raise ValueError(f"colour matrix must be one of {', '.join(MATRICES)}, got {matrix!r}")
    if yuv_range not in RANGES:
        raise ValueError(f"range must be one of {', '.join(RANGES)}, got {yuv_range!r}")
    return MATRICES[matrix]


def yuv_shape(height: int, width: int) -> tuple[int, int]:
    if height % 2 or width % 2 or height < 2 or width < 2:
        raise ValueError(f"4:2:0 frames need an even height and width, got {width}x{height}")
    return height * 3 // 2, width


def rgb_to_yuv420(rgb: np.ndarray, fmt: str = "nv12", matrix: str = "bt601", yuv_range: str = "limited") -> np.ndarray:
    """uint8 [H, W, 3] RGB -> uint8 [H*3/2, W] planes; chroma is the mean of each 2x2 block."""
    kr, kb = _check(fmt, matrix, yuv_range)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 [H, W, 3], got {rgb.dtype} {list(rgb.shape)}")
    h, w = rgb.shape[:2]
    rows, _ = yuv_shape(h, w)
    r, g, b = (rgb[..., i].astype(np.float64) / 255.0 for i in range(3))
    kg = 1.0 - kr - kb
    y = kr * r + kg * g + kb * b  # 0..1
    u = (b - y) / (2.0 * (1.0 - kb))  # -0.5..0.5
    v = (r - y) / (2.0 * (1.0 - kr))
    u = u.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    v = v.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    if yuv_range == "limited":
        y, u, v = 16 + 219 * y, 128 + 224 * u, 128 + 224 * v
    else:
        y, u, v = 255 * y, 128 + 255 * u, 128 + 255 * v
    q = [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, u, v)]
    out = np.empty((rows, w), np.uint8)
    out[:h] = q[0]
    if fmt == "nv12":
        out[h:] = np.stack([q[1], q[2]], axis=-1).reshape(h // 2, w)
    else:
        out[h:] = np.concatenate([q[1].ravel(), q[2].ravel()]).reshape(h // 2, w)
    return out


def yuv420_to_rgb(planes: np.ndarray, fmt: str = "nv12", matrix: str = "bt601", yuv_range: str = "limited"
                  ) -> np.ndarray:
    """uint8 [H*3/2, W] planes -> uint8 [H, W, 3] RGB; chroma repeated over its 2x2 block."""
    kr, kb = _check(fmt, matrix, yuv_range)
    planes = np.asarray(planes)
    if planes.dtype != np.uint8 or planes.ndim != 2 or planes.shape[0] % 3:
        raise ValueError(f"expected uint8 [H*3/2, W] planes, got {planes.dtype} {list(planes.shape)}")
    h, w = planes.shape[0] * 2 // 3, planes.shape[1]
    yuv_shape(h, w)
    y = planes[:h].astype(np.float64)
    chroma = planes[h:]
    if fmt == "nv12":
        u, v = chroma.reshape(h // 2, w // 2, 2).transpose(2, 0, 1).astype(np.float64)
    else:
        u, v = chroma.reshape(2, h // 2, w // 2).astype(np.float64)
    if yuv_range == "limited":
        y, u, v = (y - 16) / 219, (u - 128) / 224, (v - 128) / 224
    else:
        y, u, v = y / 255, (u - 128) / 255, (v - 128) / 255
    u = u.repeat(2, axis=0).repeat(2, axis=1)
    v = v.repeat(2, axis=0).repeat(2, axis=1)
    kg = 1.0 - kr - kb
    r = y + 2.0 * (1.0 - kr) * v
    b = y + 2.0 * (1.0 - kb) * u
    g = (y - kr * r - kb * b) / kg
    return np.clip(np.rint(np.stack([r, g, b], axis=-1) * 255), 0, 255).astype(np.uint8)


def read_yuv_file(path: str | Path, width: int, height: int) -> np.ndarray:
    """A raw .yuv file of one or more 4:2:0 frames -> uint8 [N, H*3/2, W]."""
    rows, w = yuv_shape(height, width)
    data = np.fromfile(Path(path), np.uint8)
    frame = rows * w
    if data.size == 0 or data.size % frame:
        raise ValueError(f"{path}: {data.size} bytes is not a whole number of {width}x{height} 4:2:0 frames "
                         f"({frame} bytes each); check --size")
    return data.reshape(-1, rows, w)
