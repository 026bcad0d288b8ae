"""fp16 and INT8 variants of an fp32 ONNX graph, made with the libraries' own converters.

- fp16: ONNX Runtime's maintained copy of the onnxconverter-common converter
  (onnxruntime.transformers.float16; the onnxconverter-common 1.16 one loops forever on dynamo
  graphs here) with a block list: LayerNormalization, Softmax and reductions stay fp32 (fp16
  LayerNorm after attention overflows), inputs and outputs keep their types.
- int8 (QDQ): ONNX Runtime static quantisation from calibration frames, symmetric per-channel
  weights and symmetric activations, float biases, the folded head in float - explicit
  quantisation that TensorRT 10/11 parses (it has no asymmetric int8 and rejects DequantizeLinear
  of an int32 bias) and ONNX Runtime runs, slowly on x86 (S8S8).
- int8-cpu (QDQ): uint8 activations, int8 per-channel weights (U8S8), the head in float, and
  Conv, Clip and the residual Add quantised end to end so ONNX Runtime fuses QLinearConv /
  QLinearAdd chains: its fast x86 int8 path; never handed to TensorRT. The input normalisation
  is folded into the first Conv first (fold_normalize.py), so that Conv reads the pixels exactly.
  Exact where ONNX Runtime's U8S8 kernels do not saturate: x86 with VNNI or AMX, and ARM64.
- int8-cpu-avx2: for x86 without VNNI, whose U8S8 kernels add pairs of u8 x s8 products in a
  saturating int16 (runtime/cpu_class.py). 7-bit weights (reduce_range: |w| <= 64, so
  2 x 255 x 64 = 32640 fits) in every quantised Conv, and the stem Conv, which reads the raw
  pixels, in float: 7-bit weights there, after the normalisation is folded in, cost the most
  accuracy. Exact on every CPU by construction (depthwise Convs widen to int16 before they
  multiply, so only the GEMM-path Convs needed it); measured on an emulated Zen 3 in
  benchmarks/results/cpu_classes.md. Neither half alone is enough: 8-bit weights with only the
  stem in float still drifted 2.3 MOS points (mean) on the emulated Zen 3, and 7-bit weights in
  the stem too doubled int8-cpu's error (mean 2.1 vs 1.0 MOS on a CLIVE fold).
- int8-dynamic: ONNX Runtime dynamic quantisation (int8 weights, activations quantised on the
  fly); CPU only, usually the fastest int8 on CPUs, not consumable by TensorRT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from edgeiqa.export.fold_normalize import Folded, fold_input_normalization, recentre_quantized_bias
from edgeiqa.runtime.bundle import INPUT_NAME

FP16_BLOCK_LIST = ["LayerNormalization", "Softmax", "ReduceMean", "ReduceSum", "ReduceMax", "Pow", "Sqrt",
                   "Resize", "Range", "Erf"]
QUANTIZED_OPS = ["Conv", "MatMul", "Gemm"]
AVX2_REDUCE_RANGE = True  # int8-cpu-avx2: 7-bit weights in every quantised Conv (the stem stays float)
CPU_QUANTIZED_OPS = QUANTIZED_OPS + ["Clip", "Add"]  # the whole conv trunk stays in uint8 between convs


def to_fp16(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.transformers import float16

    model = onnx.load(str(src))
    block = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(FP16_BLOCK_LIST))
    fp16 = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=block)
    onnx.save(fp16, str(dst))


class FrameReader:
    """ONNX Runtime's CalibrationDataReader protocol over uint8 NHWC calibration frames."""

    def __init__(self, frames: np.ndarray, batch: int = 8, fixed: bool = False) -> None:
        """fixed: the graph has a static batch, so every batch is exactly `batch` frames (the last one
        filled up with copies of its last frame, which weigh in the statistics like any frame)."""
        chunks = [frames[i:i + batch] for i in range(0, len(frames), batch)]
        if fixed and chunks and len(chunks[-1]) < batch:
            last = chunks[-1]
            chunks[-1] = np.concatenate([last, np.repeat(last[-1:], batch - len(last), axis=0)])
        self._batches: Iterator[np.ndarray] = iter(chunks)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}


def head_nodes(path: Path) -> list[str]:
    """Nodes of the folded head (they read `head.*` weights) and every node after them (an
    ensemble's mean, the MOS mapping): quantisation leaves them in float.

    The head's input concatenates statistics of very different ranges: one int8 scale for all of
    them would erase the small ones; and a score rounded to int8 steps would lose its ranking.
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    names, tainted = [], set()
    for node in graph.node:  # ONNX graphs are topologically sorted
        if any(i.startswith("head.") or i in tainted for i in node.input):
            names.append(node.name)
            tainted.update(node.output)
    return names


def pixel_convs(path: Path) -> list[str]:
    """The Conv(s) that read the graph's pixels (through Cast, Pad, or the normalisation): in the
    int8-cpu-avx2 flavour they stay float, since 7-bit weights there cost the most accuracy (the
    folded normalisation makes the stem's weights large); the stem is a few percent of the
    model's arithmetic."""
    return _walk_to_stem(path)[0]


def front_nodes(path: Path) -> list[str]:
    """Every node between the graph input and the stem Conv(s): the cast, the normalisation and a
    camera bundle's YUV front end (colour conversion, resize). No int8 flavour quantises them: the
    front end stays float in every precision, as a derived bundle's does (export/derive.py)."""
    return _walk_to_stem(path)[1]


def _walk_to_stem(path: Path) -> tuple[list[str], list[str]]:
    """(stem Conv names, names of the nodes before them), naming unnamed nodes (nodes_to_exclude
    goes by name)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    frontier, seen, found, before = [graph.input[0].name], set(), [], []
    while frontier:
        name = frontier.pop()
        for i, node in enumerate(graph.node):
            if name in node.input and i not in seen:
                seen.add(i)
                if node.op_type == "Conv":
                    found.append(node)
                elif node.op_type == "Shape":  # the batch size read off the input: metadata, not pixels
                    continue
                else:
                    before.append(node)
                    frontier.extend(node.output)
    unnamed = [n for n in found + before if not n.name]
    for k, node in enumerate(unnamed):
        node.name = f"edgeiqa_front_{k}"
    if unnamed:
        onnx.save(model, str(path))
    return [n.name for n in found], [n.name for n in before]


def bias_adds(path: Path) -> list[str]:
    """Add nodes with a constant input (a MatMul's bias in a transformer): quantised as an
    activation, the bias would become a uint8 tensor; they stay float, only residual Adds join."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    constants = {t.name for t in graph.initializer} | {o for n in graph.node if n.op_type == "Constant"
                                                       for o in n.output}
    return [n.name for n in graph.node if n.op_type == "Add" and any(i in constants for i in n.input)]


FLAVOURS = ("tensorrt", "cpu", "cpu-avx2")


def to_int8_qdq(src: Path, dst: Path, calib_frames: np.ndarray, flavour: str = "tensorrt", static_batch: int = 0
                ) -> None:
    """Static QDQ int8. flavour "tensorrt": symmetric int8 activations and weights (zero points 0),
    per-channel weights, float biases, folded head in float: what TensorRT's explicit quantisation
    parses. flavour "cpu": uint8 activations, int8 weights (U8S8), ONNX Runtime's fast x86 path.
    flavour "cpu-avx2": "cpu" with 7-bit weights and the pixel-reading stem Conv in float (pixel_convs)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if flavour not in FLAVOURS:
        raise ValueError(f"unknown int8 flavour {flavour!r}")
    symmetric = flavour == "tensorrt"
    overrides: dict[str, list[dict[str, np.float32]]] = {}
    folded_file = dst.with_name(dst.stem + ".fold.onnx")
    folded = Folded(False)
    if not symmetric:  # CPU flavour: the first Conv reads pixels, held exactly as uint8 (fold_normalize.py)
        folded = fold_input_normalization(src, folded_file)
        if folded.folded:
            src = folded_file
            if folded.integer_pixels:
                overrides[folded.conv_input] = [{"rmin": np.float32(0), "rmax": np.float32(255)}]  # scale 1, zp 0
    prepared = dst.with_name(dst.stem + ".prep.onnx")
    try:
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
    except Exception:  # noqa: BLE001 - pre-processing is an optimisation; quantise the original instead
        prepared = src
    # TensorRT flavour: quantise what Conv/MatMul read, not what they write, so the residual stream
    # and the stage statistics stay float. On a CLIVE fold (EfficientNet-Lite0, 96 test photos) an
    # earlier graph that also quantised Conv outputs moved scores by up to 28-41 MOS points (SRCC
    # -0.05); reading-side only: max 10-13, mean 1.2, SRCC kept.
    # CPU flavour: Conv, Clip and the residual Add all quantised (uint8 from conv to conv): on the
    # same fold SRCC 0.824 against fp32's 0.822 (max 13.2, mean 1.2 MOS), and ONNX Runtime fuses
    # QLinearConv / QLinearAdd chains instead of converting around every conv.
    ops = QUANTIZED_OPS if symmetric else CPU_QUANTIZED_OPS
    extra = {"ActivationSymmetric": symmetric, "WeightSymmetric": True, "QuantizeBias": not symmetric,
             "DedicatedQDQPair": True, "TensorQuantOverrides": overrides}
    if symmetric:
        extra["OpTypesToExcludeOutputQuantization"] = QUANTIZED_OPS
    try:
        quantize_static(str(prepared), str(dst), FrameReader(calib_frames, static_batch or 8, bool(static_batch)),
                        quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                        weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=ops,
                        reduce_range=AVX2_REDUCE_RANGE and flavour == "cpu-avx2",
                        nodes_to_exclude=head_nodes(prepared) + front_nodes(prepared)
                        + ([] if symmetric else bias_adds(prepared))
                        + (pixel_convs(prepared) if flavour == "cpu-avx2" else []),
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options=extra)
        if folded.folded:
            recentre_quantized_bias(dst, folded)
        if symmetric:  # TensorRT flavour: residual Adds and stage statistics read float (onnx_graph.py)
            from edgeiqa.export.onnx_graph import float_inputs_except

            float_inputs_except(dst, tuple(QUANTIZED_OPS))
    finally:
        if prepared != src:
            prepared.unlink(missing_ok=True)
        folded_file.unlink(missing_ok=True)
        Path(str(folded_file) + ".data").unlink(missing_ok=True)


def to_int8_dynamic(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gemm"])


def write_precision(precision: str, fp32: Path, dst: Path, calib: np.ndarray | None, static_batch: int = 0) -> None:
    """`dst`, the `precision` variant of the fp32 graph (calib: the int8 flavours' calibration
    frames, as the graph takes them)."""
    from edgeiqa.export.precision_entry import INT8_FLAVOURS

    if precision == "fp16":
        to_fp16(fp32, dst)
    elif precision in INT8_FLAVOURS:
        if calib is None:
            raise ValueError(f"{precision} needs calibration frames")
        to_int8_qdq(fp32, dst, calib, INT8_FLAVOURS[precision], static_batch)
    elif precision == "int8-dynamic":
        to_int8_dynamic(fp32, dst)
    else:
        raise ValueError(f"no reduced precision {precision!r}")
