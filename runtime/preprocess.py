"""Decode and resize, shared verbatim by training, export checks and the runtime.

A model is only as good as the agreement between the pixels it was trained on and the pixels it
sees in the field, so there is exactly one implementation of "image in -> uint8 HxWx3 out".
Normalisation (mean/std) is not done here: it is baked into the model graph.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Literal, Union

import numpy as np
from edgeiqa.runtime.errors import ImageDecodeError
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

ImageInput = Union[str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray]
ResizeRule = Literal["squash", "crop"]
RESIZE_RULES: tuple[str, ...] = ("squash", "crop")
_INTERPOLATION = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
                  "nearest": Image.Resampling.NEAREST, "lanczos": Image.Resampling.LANCZOS}
# Pillow's decompression-bomb guard stays on: an image over MAX_IMAGE_PIXELS*2 raises, and we
# report it per item instead of silently decoding a gigapixel file on a camera box.
ImageFile.LOAD_TRUNCATED_IMAGES = False
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, scaling high-bit-depth data instead of clipping it."""
    if img.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I"}:
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr8 = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr8 = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if img.mode in {"RGBA", "LA", "PA"} or (img.mode == "P" and "transparency" in img.info):
        # Composite on white: transparent pixels have no defined colour otherwise.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB") if img.mode != "RGB" else img


def _open(item: ImageInput) -> Image.Image:
    if isinstance(item, Image.Image):
        # A JPEG the caller opened from a file and has not decoded yet (so not edited either): decode
        # our own copy of that file, with the same draft as the path would get; the caller's object
        # is never touched. A decoded image is used as it is.
        name = getattr(item, "filename", "")
        if item.format == "JPEG" and getattr(item, "fp", None) is not None and name and Path(name).is_file():
            return Image.open(name)
        return item
    if not isinstance(item, (str, os.PathLike, bytes, bytearray, memoryview)):
        raise ImageDecodeError(f"cannot read a {type(item).__name__} as an image: give a path, bytes, a PIL "
                               "image or a uint8 HxWx3 array")
    if isinstance(item, (bytes, bytearray, memoryview)):
        if len(item) == 0:
            raise ImageDecodeError("empty byte string: no image data")
        return Image.open(io.BytesIO(bytes(item)))
    path = Path(item)
    if not path.is_file():
        raise ImageDecodeError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageDecodeError(f"{path}: zero-byte file")
    return Image.open(path)


def decode(item: ImageInput, target: tuple[int, int] | None = None) -> Image.Image:
    """Return an 8-bit RGB PIL image, EXIF orientation applied.

    With `target` (height, width) a JPEG far larger than the target is decoded at reduced scale
    (libjpeg DCT scaling, "draft" mode), which is 2-8x faster and gives the same pixels on every
    caller because training, export checks and the runtime all come through here.
    """
    if isinstance(item, np.ndarray):
        return Image.fromarray(as_uint8_rgb(item))
    try:
        img = _open(item)
        # Draft only what we opened ourselves: a caller's PIL image is never mutated.
        if (target is not None and img is not item and img.format == "JPEG"
                and img.mode in {"RGB", "L", "CMYK", "YCbCr"}):
            # The smallest DCT scale (1/2, 1/4, 1/8) that still covers the target: libjpeg's DCT
            # scaling is itself a low-pass filter, and the antialiased resize finishes the job.
            # (Twice the target, the earlier rule, cost a 12 MP frame 66 ms of pixels, not ~20.)
            img.draft("RGB", (target[1], target[0]))
        img.load()
        img = ImageOps.exif_transpose(img) or img
        return _to_rgb(img)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageDecodeError(f"{_describe(item)}: refused, larger than Pillow's pixel limit ({err})") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageDecodeError(f"{_describe(item)}: cannot decode image ({err})") from err


def as_uint8_rgb(arr: np.ndarray) -> np.ndarray:
    """Validate an in-memory frame: uint8, HxWx3 (HxW grey and HxWx4 accepted and converted)."""
    if arr.dtype != np.uint8:
        raise ImageDecodeError(f"array frames must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageDecodeError(f"array frames must be HxWx3 uint8, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageDecodeError(f"empty frame of shape {arr.shape}")
    return np.ascontiguousarray(arr[:, :, :3])


def resize(img: Image.Image, height: int, width: int, rule: ResizeRule = "squash",
           interpolation: str = "bilinear") -> np.ndarray:
    """Resize to the model's input, uint8 HxWx3.

    "squash" ignores the aspect ratio, as the paper's reference code does: the whole frame is
    seen, and a blur or noise pattern is not cropped away.
    "crop" keeps it: scale so the frame just covers height x width (Pillow's antialiased kernel,
    the same in both axes), then take the centre. Blur and noise keep their shape; a wide frame
    loses its sides. A photo already at the input size is not resampled at all.
    """
    if rule not in RESIZE_RULES:
        raise ValueError(f"unknown resize rule {rule!r}; known: {', '.join(RESIZE_RULES)}")
    if interpolation not in _INTERPOLATION:
        raise ValueError(f"unknown interpolation {interpolation!r}; known: {', '.join(_INTERPOLATION)}")
    kernel = _INTERPOLATION[interpolation]
    if rule == "crop" and img.size != (width, height):
        w, h = img.size
        scale = max(width / w, height / h)
        box = _centre_box(w, h, width / scale, height / scale)
        img = img.resize((width, height), kernel, box=box, reducing_gap=None)
    elif img.size != (width, height):
        img = img.resize((width, height), kernel, reducing_gap=None)
    return np.asarray(img, dtype=np.uint8).copy()


def _centre_box(w: int, h: int, crop_w: float, crop_h: float) -> tuple[float, float, float, float]:
    """The centred source rectangle of crop_w x crop_h (fractional: no rounding shift), inside the
    image: width / (width / w) can come out a hair above w, and Pillow refuses a box that starts at
    -1e-14 (a 512 px photo cropped to 1920x1080 did)."""
    crop_w, crop_h = min(crop_w, float(w)), min(crop_h, float(h))
    left, top = max((w - crop_w) / 2.0, 0.0), max((h - crop_h) / 2.0, 0.0)
    return (left, top, left + crop_w, top + crop_h)


def load_frame(item: ImageInput, height: int, width: int, rule: ResizeRule = "squash",
               interpolation: str = "bilinear") -> np.ndarray:
    """Anything image-like -> the uint8 HxWx3 frame the model input expects."""
    if isinstance(item, np.ndarray):
        frame = as_uint8_rgb(item)
        if frame.shape[:2] == (height, width):
            return frame
        return resize(Image.fromarray(frame), height, width, rule, interpolation)
    return resize(decode(item, target=(height, width)), height, width, rule, interpolation)


def _describe(item: ImageInput) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    return f"<{type(item).__name__}>"


def find_images(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand folders (recursively, sorted) into image files; files are kept as given."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(p)
    return found
