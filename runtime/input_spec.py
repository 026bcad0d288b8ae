"""What a bundle's graph takes, as one value: the manifest's "input" block, typed.

The block is the contract between the exporter (which bakes preprocessing and, for a camera, the
YUV conversion into the graph) and every reader of a bundle: the runtime's Scorer, the TensorRT
builder, the Triton config, the C header, `derive`. Before this class each of them took a piece
of it - a 4-tuple of camera settings here, a 12-parameter block builder there - and re-derived the
rest. `InputSpec` owns the lot: it checks itself, knows the shape of one input item, turns any
image into that item, and writes and reads the manifest block.

The graph front ends that consume it live in the export stage (export/yuv_input.py in PyTorch,
export/derive.py in ONNX): the runtime never imports the export stage (tests/test_one_way.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from edgeiqa.runtime.bundle import INPUT_NAME
from edgeiqa.runtime.errors import EdgeIQAError
from edgeiqa.runtime.yuv import MATRICES, PIXEL_FORMATS, RANGES, YUV_FORMATS, rgb_to_yuv420, yuv_shape


class InputSpecError(EdgeIQAError, ValueError):
    """An input that cannot be built: the message names the export/derive flag to change."""


@dataclass(frozen=True)
class InputSpec:
    height: int  # the model's input, always
    width: int
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    resize: str = "crop"  # the rule from a photo (or a camera frame) to height x width
    interpolation: str = "bicubic"
    float_input: bool = False  # float NCHW, normalised by the caller, instead of uint8 NHWC
    batch: int | str = "dynamic"  # or a fixed batch (DLA, SoCs)
    pixel_format: str = "rgb"  # rgb | nv12 | i420
    frame: tuple[int, int] | None = None  # YUV: (height, width) of the camera's frames (default: the model's)
    yuv_matrix: str = "bt601"
    yuv_range: str = "limited"

    @property
    def is_yuv(self) -> bool:
        return self.pixel_format in YUV_FORMATS

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of one frame as the graph receives it."""
        return (self.frame or (self.height, self.width)) if self.is_yuv else (self.height, self.width)

    @property
    def item_shape(self) -> tuple[int, ...]:
        """The shape of one item of the graph input (the batch axis excluded)."""
        if self.is_yuv:
            return yuv_shape(*self.frame_size)
        return (3, self.height, self.width) if self.float_input else (self.height, self.width, 3)

    @property
    def loaded_shape(self) -> tuple[int, ...]:
        """One uint8 item as `load` returns it: item_shape, except that a float-input graph's frames
        are uint8 HxWx3 until the caller normalises them."""
        return self.item_shape if self.is_yuv else (self.height, self.width, 3)

    @property
    def yuv(self) -> tuple[str, str, str] | None:
        """(pixel format, matrix, range) of a camera input; None for RGB."""
        return (self.pixel_format, self.yuv_matrix, self.yuv_range) if self.is_yuv else None

    def validate(self) -> InputSpec:
        """Raise InputSpecError for an input no graph can take; returns self to chain."""
        if self.pixel_format not in PIXEL_FORMATS:
            raise InputSpecError(f"--input must be one of {', '.join(PIXEL_FORMATS)}, got {self.pixel_format!r}")
        if not self.is_yuv:
            if self.frame is not None:
                raise InputSpecError("--frame sets a camera's YUV frame size: it needs --input nv12 or i420")
            return self
        if self.float_input:
            raise InputSpecError("--float-input and --input nv12/i420 exclude each other: YUV planes are uint8")
        if self.yuv_matrix not in MATRICES or self.yuv_range not in RANGES:
            raise InputSpecError(f"--yuv-matrix must be one of {', '.join(MATRICES)} and --yuv-range one of "
                                 f"{', '.join(RANGES)}; got {self.yuv_matrix!r}, {self.yuv_range!r}")
        try:
            yuv_shape(*self.frame_size)
        except ValueError as err:
            raise InputSpecError(f"--frame: {err}") from err
        return self

    def replace(self, **changes: Any) -> InputSpec:
        return dataclasses.replace(self, **changes)

    def load(self, item: Any) -> np.ndarray:
        """Any image -> one uint8 item of the graph input: RGB at the model's size through the
        runtime's one preprocessing function, or - for a camera input - the same resize rule to
        the frame size, converted to YUV planes as a camera would deliver them."""
        from edgeiqa.runtime.preprocess import load_frame

        h, w = self.frame_size
        frame = load_frame(item, h, w, self.resize, self.interpolation)  # type: ignore[arg-type]
        return rgb_to_yuv420(frame, self.pixel_format, self.yuv_matrix, self.yuv_range) if self.is_yuv else frame

    def manifest_block(self) -> dict[str, Any]:
        """The manifest's "input": everything a caller needs to turn a photo into the model input."""
        block = {"name": INPUT_NAME, "dtype": "float32" if self.float_input else "uint8",
                 "layout": "NCHW" if self.float_input else "NHWC", "height": int(self.height),
                 "width": int(self.width), "channels": 3, "color": "RGB", "resize": self.resize,
                 "interpolation": self.interpolation, "normalization_baked": not self.float_input,
                 "mean": list(self.mean), "std": list(self.std), "batch": self.batch, "pixel_format": self.pixel_format}
        if self.is_yuv:
            fh, fw = self.frame_size
            block.update(layout=f"{self.pixel_format.upper()} planes [N, frame_height*3/2, frame_width]", channels=1,
                         color="YUV 4:2:0", frame_height=int(fh), frame_width=int(fw),
                         yuv={"matrix": self.yuv_matrix, "range": self.yuv_range,
                              "chroma": "each chroma sample covers its 2x2 luma block (repeated, not interpolated)",
                              "to_model": f"{self.resize} rule from {fw}x{fh} to {self.width}x{self.height} inside "
                                          "the graph"})
        return block

    @classmethod
    def from_manifest(cls, block: dict[str, Any]) -> InputSpec:
        """The inverse of manifest_block (older bundles' missing keys take the defaults they had)."""
        fmt = block.get("pixel_format", "rgb")
        yuv = block.get("yuv", {})
        return cls(int(block["height"]), int(block["width"]), tuple(block["mean"]), tuple(block["std"]),
                   block.get("resize", "squash"), block.get("interpolation", "bilinear"),
                   block.get("dtype", "uint8") != "uint8", block.get("batch", "dynamic"), fmt,
                   (int(block["frame_height"]), int(block["frame_width"])) if fmt in YUV_FORMATS else None,
                   yuv.get("matrix", "bt601"), yuv.get("range", "limited"))
