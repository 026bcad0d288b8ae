"""What `edgeiqa export` can be asked to do, grouped by concern.

Each group is a dataclass whose fields are also the command's flags (runtime/cli_args.option): a
library caller writes `ExportOptions(graphs=GraphOptions(("fp32", "int8")), input=InputOptions(
pixel_format="nv12", frame=(1080, 1920)))`, a shell user `edgeiqa export CKPT --out B --precision
fp32,int8 --input nv12 --frame 1920x1080`, and `edgeiqa export --help` lists the flags under the
same groups. Torch-free: the CLI builds its parser without importing the exporter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeiqa.runtime.bundle import PRECISIONS
from edgeiqa.runtime.cli_args import batch_profile, comma_list, frame_size, option
from edgeiqa.runtime.input_spec import InputSpec
from edgeiqa.runtime.yuv import MATRICES, PIXEL_FORMATS, RANGES


@dataclass
class GraphOptions:
    """graphs: which precisions are written, calibrated and kept in the bundle"""

    precisions: tuple[str, ...] = option(("fp32",), f"comma list of {','.join(PRECISIONS)} (fp32 always)",
                                         flag="--precision", parse=comma_list, metavar="P,P")
    ship: tuple[str, ...] | None = option(None, "precisions kept in the bundle (default: all exported); e.g. int8 "
                                          "for a small bundle, fp32 still built to measure its error",
                                          parse=comma_list, metavar="P,P")
    calib: str | None = option(None, "folder of int8 calibration images (default: a sample of the training split)",
                               metavar="DIR")
    calib_count: int = option(64, "int8 calibration images", parse=int, metavar="N")
    prune: float = option(0.0, "drop (channel, activation) pairs of the folded head with weight < EPS", parse=float,
                          metavar="EPS")
    opset: int = option(18, "ONNX opset", parse=int, metavar="N")


@dataclass
class InputOptions:
    """input: what the graph takes (RGB frames, or a camera's raw planes with conversion and resize baked in)"""

    pixel_format: str = option("rgb", "RGB frames, or a camera's raw NV12 / I420 planes", flag="--input",
                               choices=PIXEL_FORMATS)
    frame: tuple[int, int] | None = option(None, "with --input nv12|i420: the camera's frame size, e.g. 1920x1080 "
                                           "(default: the model's); the crop-rule downscale then runs in the graph",
                                           parse=frame_size, metavar="WxH")
    yuv_matrix: str = option("bt601", "with --input nv12|i420: the YUV -> RGB matrix", choices=MATRICES)
    yuv_range: str = option("limited", "with --input nv12|i420: the YUV value range", choices=RANGES)
    float_input: bool = option(False, "float NCHW normalised input instead of uint8 NHWC")
    static_batch: int = option(0, "a fixed batch N instead of a dynamic one (DLA, SoCs); the TensorRT profile is "
                                  "then N,N,N", parse=int, metavar="N")

    def check(self) -> None:
        """Refuse what no model could take (--frame without a YUV input, an odd frame size, ...)
        before a checkpoint is read: the spec of a stand-in 2x2 model checks the flags alone."""
        self.spec(2, 2, (0.5,) * 3, (0.5,) * 3, "crop", "bicubic")

    def spec(self, height: int, width: int, mean: tuple[float, ...], std: tuple[float, ...], resize: str,
             interpolation: str) -> InputSpec:
        """The graph's input for a model of this size and preprocessing (checked)."""
        return InputSpec(height, width, tuple(mean), tuple(std), resize, interpolation, self.float_input,
                         self.static_batch or "dynamic", self.pixel_format, self.frame, self.yuv_matrix,
                         self.yuv_range).validate()


@dataclass
class TensorRTOptions:
    """TensorRT: engines built at export, on the target GPU (`edgeiqa engine` builds them from a bundle later)"""

    build: bool = option(False, "also build TensorRT engines", flag="--trt")
    batch: tuple[int, int, int] = option((1, 8, 32), "TensorRT profile min,opt,max batch", parse=batch_profile,
                                         metavar="MIN,OPT,MAX")
    tf32: bool = option(False, "let fp32 engines use TF32 tensor cores (off: fp32 means fp32)")
    version_compatible: bool = option(False, "version-compatible plans, loadable by the lean runtime "
                                      "(tensorrt_lean) and later TensorRT versions (slower)",
                                      flag="--trt-version-compatible")


@dataclass
class CheckOptions:
    """checks: the errors measured at export and their tolerances (edgeiqa.export.checks)"""

    enforce: bool = option(True, "record the errors without enforcing their tolerances", flag="--no-check")
    count: int = option(32, "real images (the run's test split) the checks score", flag="--check-count", parse=int,
                        metavar="N")


@dataclass
class CardOptions:
    """What the manifest says about the model beyond its graphs; set by the release recipe."""

    model_card: dict[str, Any] | None = None  # `trained_on`: dataset, licence notice, recipe, CV metrics
    # Thresholds people can set (runtime/thresholds.py): the rating scale's five categories as four
    # MOS boundaries (bad|poor|fair|good|excellent), and the percentiles of scores on rated photos
    # the model never trained on (the release recipe passes its out-of-fold scores).
    categories: tuple[float, ...] = ()
    score_percentiles: dict[str, Any] | None = None


@dataclass
class ExportOptions:
    graphs: GraphOptions = field(default_factory=GraphOptions)
    input: InputOptions = field(default_factory=InputOptions)
    tensorrt: TensorRTOptions = field(default_factory=TensorRTOptions)
    checks: CheckOptions = field(default_factory=CheckOptions)
    card: CardOptions = field(default_factory=CardOptions)
    triton: str | None = option(None, "also write a Triton model repository here", metavar="DIR")
    force: bool = option(False, "replace an existing bundle at --out")
