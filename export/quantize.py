"""fp16 and INT8 variants of an fp32 ONNX graph, made with the libraries' own converters.

- fp16: ONNX Runtime's maintained copy of the onnxconverter-common converter
  (onnxruntime.transformers.float16; the onnxconverter-common 1.16 one loops forever on dynamo
  graphs here) with a block list: LayerNormalization, Softmax and reductions stay fp32 (fp16
  LayerNorm after attention overflows), inputs and outputs keep their types.
- int8 (QDQ): ONNX Runtime static quantisation from calibration frames, symmetric per-channel
  weights and symmetric activations - explicit quantisation that TensorRT 10/11 and ONNX Runtime
  both run.
- int8-dynamic: ONNX Runtime dynamic quantisation (int8 weights, activations quantised on the
  fly); CPU only, usually the fastest int8 on CPUs, not consumable by TensorRT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from edgeiqa.runtime.bundle import INPUT_NAME

FP16_BLOCK_LIST = ["LayerNormalization", "Softmax", "ReduceMean", "ReduceSum", "ReduceMax", "Pow", "Sqrt",
                   "Resize", "Range", "Erf"]
QUANTIZED_OPS = ["Conv", "MatMul", "Gemm"]


def to_fp16(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.transformers import float16

    model = onnx.load(str(src))
    block = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(FP16_BLOCK_LIST))
    fp16 = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=block)
    onnx.save(fp16, str(dst))


class FrameReader:
    """ONNX Runtime's CalibrationDataReader protocol over uint8 NHWC calibration frames."""

    def __init__(self, frames: np.ndarray, batch: int = 8) -> None:
        self._batches: Iterator[np.ndarray] = iter([frames[i:i + batch] for i in range(0, len(frames), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}


def to_int8_qdq(src: Path, dst: Path, calib_frames: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = dst.with_name(dst.stem + ".prep.onnx")
    try:
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
    except Exception:  # noqa: BLE001 - pre-processing is an optimisation; quantise the original instead
        prepared = src
    try:
        quantize_static(str(prepared), str(dst), FrameReader(calib_frames), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                        op_types_to_quantize=QUANTIZED_OPS, calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    finally:
        if prepared != src:
            prepared.unlink(missing_ok=True)


def to_int8_dynamic(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gemm"])
