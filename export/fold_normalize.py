"""Fold the input normalisation into the first convolution of an exported graph.

The graph normalises frames as `x * scale - shift` before its first Conv. On ONNX Runtime's
int8 CPU path that costs a quarter of the model: its layout pass moves the two elementwise ops
past the NHWC transpose, where they broadcast over a last axis of 3 (measured on the default
EfficientNet-Lite0 at 512 px, 8 frames: 5.8 of 21.9 ms per image). Folded, the Conv reads the
cast pixels directly with rescaled weights, and the quantiser sees the pixels themselves:
uint8 with scale 1 and zero point 0 represents every one of them exactly.

    W'[o, c] = W[o, c] * scale[c]        B'[o] = B[o] - sum_{c, k} W[o, c, k] * shift[c]

Zero padding of the normalised tensor is padding of the raw pixels with shift / scale, so a
padded Conv gets an explicit Pad with that value; it must be one value for every channel (true
for the lite models' 0.5 / 0.5, false for ImageNet's per-channel mean and std), else the graph
is left as it is. Only the CPU int8 flavour uses this: TensorRT fuses the elementwise ops into
its input kernel anyway, and its symmetric int8 would spend a bit of the input's precision on
values below zero that raw pixels never take.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from edgeiqa.export.onnx_graph import consumers, producers

PAD_VALUE_RTOL = 1e-6


@dataclass(frozen=True)
class Folded:
    """What the pass did: `reason` says why not when nothing was folded (and nothing written)."""

    folded: bool
    conv_input: str = ""  # the tensor the first Conv now reads: pixel values, 0..255
    integer_pixels: bool = False  # it is the uint8 graph input, cast, transposed and padded: integers only
    reason: str = ""
    bias: str = ""  # the folded bias (the Conv's third input)
    unfolded_bias: tuple[float, ...] = ()  # B, before the fold
    pixel_zero: tuple[float, ...] = ()  # per input channel, the pixel value that normalises to 0


def _consumers(graph, name: str) -> list:
    return consumers(graph).get(name, [])


def _from_uint8_input(graph, name: str) -> bool:
    """True when `name` is the uint8 graph input through Cast / Transpose only: integer pixel values."""
    made_by = producers(graph)
    inputs = {i.name: i.type.tensor_type.elem_type for i in graph.input}
    while name in made_by and made_by[name].op_type in ("Transpose", "Cast"):
        node = made_by[name]
        name = node.input[0]
        if node.op_type == "Cast":
            return inputs.get(name) == 2  # onnx.TensorProto.UINT8
    return False


@dataclass
class _Stem:
    """The pattern the pass folds: frames -> Mul(scale) -> Sub(shift) -> the first Conv."""

    mul: Any
    sub: Any
    conv: Any
    attrs: dict[str, Any]
    scale: np.ndarray  # per input channel
    shift: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    pads: list[int]


def _match_stem(graph: Any) -> _Stem | str:
    """The normalisation and the Conv it feeds, or why the graph does not have that shape. Every
    Mul by a constant is tried in graph order: other paths (the colour statistics of
    train/colour_stats.py) multiply by constants too, before or after the stem's."""
    init = {i.name: i for i in graph.initializer}
    muls = [n for n in graph.node if n.op_type == "Mul" and len(n.input) == 2 and n.input[1] in init]
    if not muls:
        return "no Mul by a constant in the graph"
    reasons = [_match_stem_at(graph, init, mul) for mul in muls]
    return next((r for r in reasons if not isinstance(r, str)), reasons[0])


def _match_stem_at(graph: Any, init: dict[str, Any], mul: Any) -> _Stem | str:
    from onnx import helper, numpy_helper

    after_mul = _consumers(graph, mul.output[0])
    if len(after_mul) != 1 or after_mul[0].op_type != "Sub" or after_mul[0].input[1] not in init:
        return "the first Mul is not followed by a Sub of a constant"
    sub = after_mul[0]
    after_sub = _consumers(graph, sub.output[0])
    if len(after_sub) != 1 or after_sub[0].op_type != "Conv" or after_sub[0].input[0] != sub.output[0]:
        return "the normalised frames do not go to one Conv"
    conv = after_sub[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    if attrs.get("group", 1) != 1 or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID"):
        return "the first Conv is grouped or pads automatically"
    if len(conv.input) < 2 or conv.input[1] not in init:
        return "the first Conv's weights are not a constant"
    scale = numpy_helper.to_array(init[mul.input[1]]).astype(np.float64).reshape(-1)
    shift = numpy_helper.to_array(init[sub.input[1]]).astype(np.float64).reshape(-1)
    w = numpy_helper.to_array(init[conv.input[1]]).astype(np.float64)
    if w.ndim != 4 or scale.size not in (1, w.shape[1]) or shift.size not in (1, w.shape[1]):
        return "the normalisation constants do not match the first Conv's input channels"
    b = numpy_helper.to_array(init[conv.input[2]]).astype(np.float64) if len(conv.input) > 2 else np.zeros(len(w))
    pads = list(attrs.get("pads", [0, 0, 0, 0])) if attrs.get("auto_pad", b"NOTSET") == b"NOTSET" else [0] * 4
    return _Stem(mul, sub, conv, attrs, np.broadcast_to(scale, w.shape[1]), np.broadcast_to(shift, w.shape[1]), w, b,
                 pads)


def fold_input_normalization(src: Path, dst: Path) -> Folded:
    """Write the folded graph to `dst` when the pattern is there (see the module's docstring)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    stem = _match_stem(graph)
    if isinstance(stem, str):
        return Folded(False, reason=stem)
    pad_values = stem.shift / stem.scale
    if any(stem.pads) and not np.allclose(pad_values, pad_values[0], rtol=PAD_VALUE_RTOL, atol=0):
        return Folded(False, reason="zero padding would need a different value per channel "
                                    f"({np.round(pad_values, 3).tolist()})")
    w, b, conv, pads = stem.weight, stem.bias, stem.conv, stem.pads
    w_new = w * stem.scale[None, :, None, None]
    b_new = b - (w * stem.shift[None, :, None, None]).sum(axis=(1, 2, 3))
    name = conv.name or "first_conv"
    graph.initializer.extend([numpy_helper.from_array(w_new.astype(np.float32), f"{name}.folded_weight"),
                              numpy_helper.from_array(b_new.astype(np.float32), f"{name}.folded_bias")])
    x = stem.mul.input[0]
    integer_pixels = _from_uint8_input(graph, x)
    new_nodes = []
    if any(pads):
        half = len(pads) // 2  # ONNX Conv pads: [begin..., end...] over the spatial axes
        pad_arg = [0, 0, *pads[:half], 0, 0, *pads[half:]]
        graph.initializer.extend([numpy_helper.from_array(np.array(pad_arg, np.int64), f"{name}.pads"),
                                  numpy_helper.from_array(np.array(pad_values[0], np.float32), f"{name}.pad_value")])
        new_nodes.append(helper.make_node("Pad", [x, f"{name}.pads", f"{name}.pad_value"], [f"{name}.padded"],
                                          name=f"{name}.pad", mode="constant"))
        x = f"{name}.padded"
        for a in conv.attribute:
            if a.name == "pads":
                a.ints[:] = [0] * len(pads)
    conv.input[:] = [x, f"{name}.folded_weight", f"{name}.folded_bias"]
    _replace_nodes(graph, drop=(stem.mul, stem.sub), before=conv, insert=new_nodes)
    big = sum(len(i.raw_data) for i in graph.initializer) > (1 << 30)  # as export_onnx: > 1 GiB goes beside it
    onnx.save(model, str(dst), save_as_external_data=big, location=Path(dst).name + ".data")
    onnx.checker.check_model(str(dst), full_check=False)
    return Folded(True, conv_input=x, integer_pixels=integer_pixels, bias=f"{name}.folded_bias",
                  unfolded_bias=tuple(b.tolist()), pixel_zero=tuple(pad_values.tolist()))


def _replace_nodes(graph: Any, drop: tuple[Any, ...], before: Any, insert: list[Any]) -> None:
    """The graph's nodes without `drop`, with `insert` placed before `before`; unused initialisers go."""
    import onnx

    nodes = []
    for n in graph.node:
        if any(n is d for d in drop):
            continue
        if n is before:
            nodes += insert
        nodes.append(n)
    copies = [onnx.NodeProto() for _ in nodes]
    for c, n in zip(copies, nodes):
        c.CopyFrom(n)
    del graph.node[:]
    graph.node.extend(copies)
    used = {i for n in graph.node for i in n.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def recentre_quantized_bias(path: Path, folded: Folded) -> float:
    """Recompute the folded bias from the weights as quantised: B - sum_k dequant(W')_k * pixel_zero.

    The fold moves the mean into the bias, computed from the float weights; once the weights are
    rounded to int8, the Conv no longer subtracts exactly that mean, and every output channel
    carries a constant error (measured on the default model's stem: mean 0.38 on its worst channel,
    against 0.30 with the mean held in the input's zero point). Recomputed from the rounded weights,
    the Conv computes sum_k W'_q (x - pixel_zero) + B, centred exactly. Returns the largest change.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    init = {i.name: i for i in graph.initializer}
    made_by = producers(graph)

    def dequantized(name: str) -> tuple[np.ndarray, onnx.NodeProto | None]:
        node = made_by.get(name)
        if node is None or node.op_type != "DequantizeLinear":
            return numpy_helper.to_array(init[name]).astype(np.float64), None
        q, scale = (numpy_helper.to_array(init[i]).astype(np.float64) for i in node.input[:2])
        zp = numpy_helper.to_array(init[node.input[2]]).astype(np.float64) if len(node.input) > 2 else 0.0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * q.ndim
        if np.ndim(scale):
            shape[axis] = -1
        return (q - np.reshape(zp, shape)) * np.reshape(scale, shape), node

    conv = next(n for n in graph.node if n.op_type == "Conv" and len(n.input) > 2 and n.input[2] == folded.bias)
    w, _ = dequantized(conv.input[1])
    target = np.asarray(folded.unfolded_bias) - (w * np.asarray(folded.pixel_zero)[None, :, None, None]).sum((1, 2, 3))
    old, node = dequantized(folded.bias)
    if node is None:
        init[folded.bias].CopyFrom(numpy_helper.from_array(target.astype(np.float32), folded.bias))
    else:
        q = init[node.input[0]]
        scale = numpy_helper.to_array(init[node.input[1]]).astype(np.float64)
        values = np.round(target / scale).astype(numpy_helper.to_array(q).dtype)
        q.CopyFrom(numpy_helper.from_array(values, q.name))
    onnx.save(model, str(path))
    return float(np.abs(target - old).max())
