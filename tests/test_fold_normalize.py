"""Folding the input normalisation into the first Conv: same scores, fewer passes, exact pixels."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from edgeiqa.export.fold_normalize import fold_input_normalization  # noqa: E402

LITE = ([0.5] * 3, [0.5] * 3)
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def _front(path, mean_std, pads, kernel=3, stride=2, out_ch=8):
    """uint8 NHWC -> Cast -> Transpose -> x * scale - shift -> Conv -> Relu -> mean: the exported front."""
    from onnx import TensorProto, helper, numpy_helper

    mean, std = (np.array(v, np.float32) for v in mean_std)
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((1 / (255 * std)).reshape(1, 3, 1, 1).astype(np.float32), "scale"),
             numpy_helper.from_array((mean / std).reshape(1, 3, 1, 1).astype(np.float32), "shift"),
             numpy_helper.from_array(rng.normal(0, 0.5, (out_ch, 3, kernel, kernel)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(0, 0.1, out_ch).astype(np.float32), "b")]
    nodes = [helper.make_node("Cast", ["frames"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Transpose", ["f"], ["t"], perm=[0, 3, 1, 2]),
             helper.make_node("Mul", ["t", "scale"], ["m"]),
             helper.make_node("Sub", ["m", "shift"], ["n"]),
             helper.make_node("Conv", ["n", "w", "b"], ["c"], pads=pads, strides=[stride, stride],
                              kernel_shape=[kernel, kernel]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("ReduceMean", ["r"], ["score"], keepdims=0, axes=[2, 3])]
    graph = helper.make_graph(nodes, "front", [helper.make_tensor_value_info("frames", TensorProto.UINT8,
                                                                             ["N", 33, 35, 3])],
                              [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", out_ch])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def _run(path, frames):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"frames": frames})[0]


def _frames(photo):
    from PIL import Image

    real = np.asarray(Image.open(photo).convert("RGB").resize((35, 33)))
    rng = np.random.default_rng(1)
    return np.stack([real, rng.integers(0, 256, real.shape, dtype=np.uint8), np.full_like(real, 255),
                     np.zeros_like(real)])


@pytest.mark.parametrize("pads", [[1, 1, 1, 1], [0, 0, 1, 1]])
def test_padded_conv_folds_with_an_explicit_pad_and_keeps_the_scores(tmp_path, photo, pads):
    src = _front(tmp_path / "src.onnx", LITE, pads)
    res = fold_input_normalization(src, tmp_path / "dst.onnx")
    assert res.folded and res.integer_pixels, res.reason
    ops = [n.op_type for n in onnx.load(str(tmp_path / "dst.onnx")).graph.node]
    assert "Mul" not in ops and "Sub" not in ops and ops.index("Pad") < ops.index("Conv")
    frames = _frames(photo)
    np.testing.assert_allclose(_run(tmp_path / "dst.onnx", frames), _run(src, frames), rtol=1e-5, atol=1e-5)


def test_unpadded_conv_folds_per_channel_constants_without_a_pad(tmp_path, photo):
    """A ViT patch embedding: no padding, so ImageNet's per-channel mean and std fold too."""
    src = _front(tmp_path / "src.onnx", IMAGENET, [0, 0, 0, 0], kernel=4, stride=4)
    res = fold_input_normalization(src, tmp_path / "dst.onnx")
    assert res.folded
    ops = [n.op_type for n in onnx.load(str(tmp_path / "dst.onnx")).graph.node]
    assert "Pad" not in ops and "Mul" not in ops
    frames = _frames(photo)
    np.testing.assert_allclose(_run(tmp_path / "dst.onnx", frames), _run(src, frames), rtol=1e-5, atol=1e-5)


def test_padding_that_would_need_a_value_per_channel_is_left_alone(tmp_path):
    src = _front(tmp_path / "src.onnx", IMAGENET, [1, 1, 1, 1])
    res = fold_input_normalization(src, tmp_path / "dst.onnx")
    assert not res.folded and "per channel" in res.reason
    assert not (tmp_path / "dst.onnx").exists()


def test_a_graph_without_the_pattern_is_left_alone(tmp_path):
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["frames"], ["score"])], "g",
                          [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(g), str(tmp_path / "src.onnx"))
    res = fold_input_normalization(tmp_path / "src.onnx", tmp_path / "dst.onnx")
    assert not res.folded and res.reason and not (tmp_path / "dst.onnx").exists()


def test_int8_cpu_reads_exact_pixels_and_int8_keeps_the_normalisation(bundle):
    """int8-cpu: the first Conv reads pixels quantised with scale 1 and zero point 0 (lossless);
    the TensorRT flavour keeps the graph's own normalisation (its symmetric int8 would halve the
    input's precision on pixels that are never negative)."""
    from onnx import numpy_helper

    for precision, folded in (("int8-cpu", True), ("int8", False)):
        graph = onnx.load(str(bundle / f"model.{precision}.onnx")).graph
        inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        first_q = next(n for n in graph.node if n.op_type == "QuantizeLinear")
        before = [n.op_type for n in graph.node[:list(graph.node).index(first_q)]]
        assert ("Mul" not in before and "Sub" not in before) == folded, (precision, before)
        if folded:
            assert float(inits[first_q.input[1]]) == 1.0 and int(inits[first_q.input[2]]) == 0


def test_int8_cpu_recentres_the_folded_bias_on_the_rounded_weights(tmp_path, photo):
    """After int8 rounding of the folded weights, the bias is B - sum dequant(W') * pixel_zero: the
    Conv subtracts exactly the mean it folded, so no output channel carries a constant error.
    The scores are compared only where ONNX Runtime computes int8-cpu exactly (U8S8 saturates on
    x86 without VNNI: runtime/cpu_class.py)."""
    from edgeiqa.export.quantize import to_int8_qdq
    from edgeiqa.runtime import cpu_class
    from onnx import numpy_helper

    src = _front(tmp_path / "src.onnx", LITE, [1, 1, 1, 1], out_ch=16)
    rng = np.random.default_rng(3)
    calib = np.concatenate([_frames(photo), rng.integers(0, 256, (12, 33, 35, 3), dtype=np.uint8)])
    to_int8_qdq(src, tmp_path / "q.onnx", calib, "cpu")
    graph = onnx.load(str(tmp_path / "q.onnx")).graph
    init = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    conv = next(n for n in graph.node if n.op_type == "Conv")

    def dq(name):
        node = producers[name]
        q, scale = init[node.input[0]], init[node.input[1]]
        zp = init[node.input[2]] if len(node.input) > 2 else 0.0
        shape = (-1,) + (1,) * (q.ndim - 1)
        return (q - np.reshape(zp, shape if np.ndim(zp) else ())) * np.reshape(scale, shape if np.ndim(scale) else ())

    w, bias = dq(conv.input[1]), dq(conv.input[2])
    unfolded = onnx.load(str(src)).graph
    b0 = numpy_helper.to_array(next(t for t in unfolded.initializer if t.name == "b")).astype(np.float64)
    expected = b0 - (w * 127.5).sum(axis=(1, 2, 3))  # pixel_zero = shift / scale = 255 * mean = 127.5
    bias_scale = init[producers[conv.input[2]].input[1]]
    assert np.all(np.abs(bias - expected) <= bias_scale / 2 + 1e-9)
    if cpu_class.exact_on("int8-cpu", cpu_class.detect().cpu_class):
        frames = _frames(photo)
        ref, got = _run(src, frames), _run(tmp_path / "q.onnx", frames)
        assert np.abs(got - ref).mean() < 0.02 * np.abs(ref).mean() + 1e-3


def test_int8_cpu_avx2_keeps_the_pixel_conv_in_float(tmp_path, photo):
    """The stem reads raw pixels (0-255), where U8S8 saturates without VNNI: it stays float, and
    the graph scores like fp32 on every CPU class."""
    from edgeiqa.export.quantize import to_int8_qdq

    src = _front(tmp_path / "src.onnx", LITE, [1, 1, 1, 1], out_ch=16)
    rng = np.random.default_rng(3)
    calib = np.concatenate([_frames(photo), rng.integers(0, 256, (12, 33, 35, 3), dtype=np.uint8)])
    to_int8_qdq(src, tmp_path / "q.onnx", calib, "cpu-avx2")
    graph = onnx.load(str(tmp_path / "q.onnx")).graph
    producers = {o: n for n in graph.node for o in n.output}
    conv = next(n for n in graph.node if n.op_type == "Conv")
    assert producers.get(conv.input[1]) is None or producers[conv.input[1]].op_type != "DequantizeLinear"
    frames = _frames(photo)
    ref, got = _run(src, frames), _run(tmp_path / "q.onnx", frames)
    assert np.abs(got - ref).mean() < 0.02 * np.abs(ref).mean() + 1e-3
