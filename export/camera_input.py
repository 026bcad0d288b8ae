"""What the exported graph takes: RGB frames at the model's size, or a camera's raw YUV frames.

`--input nv12|i420` bakes the colour conversion (and, with `--frame WxH`, the downscale from the
camera's frame size) into the graph (edgeiqa.export.yuv_input). The export checks and the int8
calibration then feed the graph what a camera would: real photos at the frame size, converted by
the runtime's numpy reference (edgeiqa.runtime.yuv).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
from edgeiqa.runtime.yuv import MATRICES, PIXEL_FORMATS, RANGES, YUV_FORMATS, rgb_to_yuv420, yuv_shape
from torch import nn


class InputFormatError(ValueError):
    pass


def validate(pixel_format: str, float_input: bool, frame: tuple[int, int] | None, matrix: str, yuv_range: str) -> None:
    if pixel_format not in PIXEL_FORMATS:
        raise InputFormatError(f"--input must be one of {', '.join(PIXEL_FORMATS)}, got {pixel_format!r}")
    if pixel_format == "rgb":
        if frame is not None:
            raise InputFormatError("--frame sets a camera's YUV frame size: it needs --input nv12 or i420")
        return
    if float_input:
        raise InputFormatError("--float-input and --input nv12/i420 exclude each other: YUV planes are uint8")
    if matrix not in MATRICES or yuv_range not in RANGES:
        raise InputFormatError(f"--yuv-matrix must be one of {', '.join(MATRICES)} and --yuv-range one of "
                               f"{', '.join(RANGES)}; got {matrix!r}, {yuv_range!r}")
    if frame is not None:
        try:
            yuv_shape(*frame)
        except ValueError as err:
            raise InputFormatError(f"--frame: {err}") from err


def frame_size(pixel_format: str, frame: tuple[int, int] | None, pre: Any) -> tuple[int, int]:
    """(height, width) of one frame as the graph receives it."""
    return frame if (pixel_format in YUV_FORMATS and frame) else (pre.height, pre.width)


def graph_front(pixel_format: str, frame: tuple[int, int] | None, matrix: str, yuv_range: str, pre: Any
                ) -> nn.Module | None:
    if pixel_format not in YUV_FORMATS:
        return None
    from edgeiqa.export.yuv_input import YuvInput

    fh, fw = frame_size(pixel_format, frame, pre)
    return YuvInput(pixel_format, matrix, yuv_range, fh, fw, pre.height, pre.width, pre.mean, pre.std,
                    pre.interpolation, pre.resize)


def input_loader(pixel_format: str, frame: tuple[int, int] | None, matrix: str, yuv_range: str, pre: Any
                 ) -> Callable[[Any], np.ndarray]:
    """Image -> one item of the graph input: RGB at the model size, or YUV planes at the frame size."""
    if pixel_format not in YUV_FORMATS:
        return pre.load
    fh, fw = frame_size(pixel_format, frame, pre)
    at_frame = dataclasses.replace(pre, height=fh, width=fw)  # the same crop rule, to the camera's size
    return lambda item: rgb_to_yuv420(at_frame.load(item), pixel_format, matrix, yuv_range)


def random_item_shape(pixel_format: str, frame: tuple[int, int] | None, pre: Any) -> tuple[int, ...]:
    fh, fw = frame_size(pixel_format, frame, pre)
    return yuv_shape(fh, fw) if pixel_format in YUV_FORMATS else (pre.height, pre.width, 3)
