"""Camera frames: NV12 / I420 planes in, the colour conversion and resize baked into the graph.

The runtime's numpy conversion (edgeiqa.runtime.yuv) and the graph's torch one
(edgeiqa.export.yuv_input) are written independently; these tests hold each against the other,
and the scores of real photos converted to NV12 / I420 against the RGB scores of the same photos.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from conftest import SHARED
from edgeiqa.export.exporter import ExportError, export_bundle
from edgeiqa.export.options import ExportOptions, GraphOptions, InputOptions
from edgeiqa.export.yuv_input import MAX_GATHER_TAPS, YuvInput
from edgeiqa.runtime import Scorer
from edgeiqa.runtime.preprocess import load_frame, resize
from edgeiqa.runtime.yuv import read_yuv_file, rgb_to_yuv420, yuv420_to_rgb
from PIL import Image

EDGEIQA = [sys.executable, "-m", "edgeiqa"]
FRAME = (96, 128)  # (height, width) of the test camera
# Stated tolerances, as fractions of the bundle's MOS range: NV12/I420 of a photo vs the RGB photo
# (4:2:0 chroma and rounding lost) for a camera frame larger than the model, and for a frame of the
# model's own size (the chroma loss then reaches the model undiluted); the graph vs the numpy
# reference on the very same planes.
TOL_VS_RGB, TOL_VS_RGB_SAME_SIZE, TOL_VS_REFERENCE = 0.01, 0.02, 0.005
COMBOS = [(f, m, r) for f in ("nv12", "i420") for m in ("bt601", "bt709") for r in ("limited", "full")]


def real_photos() -> list[np.ndarray]:
    photos = [skimage.data.coffee(), skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.rocket()]
    clive = SHARED / "datasets" / "clive-train"
    for p in sorted((clive / "images").glob("*"))[:6] if clive.is_dir() else []:
        photos.append(np.asarray(Image.open(p).convert("RGB")))
    return photos


def test_reference_conversion_has_the_standard_values_and_layouts():
    red = np.zeros((2, 4, 3), np.uint8)
    red[..., 0] = 255
    nv12 = rgb_to_yuv420(red, "nv12", "bt601", "limited")
    assert nv12.shape == (3, 4)
    assert (nv12[:2] == 81).all()  # BT.601 limited red: Y 81, Cb 90, Cr 240
    assert nv12[2].tolist() == [90, 240, 90, 240]  # NV12: U and V interleaved
    i420 = rgb_to_yuv420(red, "i420", "bt601", "limited")
    assert i420[2].tolist() == [90, 90, 240, 240]  # I420: the U plane, then the V plane
    assert (rgb_to_yuv420(red, "nv12", "bt709", "full")[:2] == 54).all()  # 0.2126 * 255
    with pytest.raises(ValueError, match="even"):
        rgb_to_yuv420(np.zeros((3, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="matrix"):
        rgb_to_yuv420(red, "nv12", "bt2020")


@pytest.mark.parametrize("fmt,matrix,rng", COMBOS)
def test_the_graph_converts_like_the_numpy_reference(fmt, matrix, rng):
    photo = load_frame(skimage.data.astronaut(), 120, 160)
    planes = rgb_to_yuv420(photo, fmt, matrix, rng)
    front = YuvInput(fmt, matrix, rng, 120, 160, 120, 160, (0, 0, 0), (1, 1, 1))
    got = front.rgb(torch.from_numpy(planes)[None]).numpy()[0].transpose(1, 2, 0)
    ref = yuv420_to_rgb(planes, fmt, matrix, rng).astype(np.float32)
    assert np.abs(got - ref).max() <= 0.5 + 1e-3  # the reference rounds to uint8; the graph does not
    back = np.abs(yuv420_to_rgb(planes, fmt, matrix, rng).astype(int) - photo)
    assert back.mean() < 3  # round trip: only 4:2:0 chroma is lost


@pytest.mark.parametrize("frame,model,rule", [((120, 160), (64, 64), "crop"), ((120, 160), (64, 64), "squash"),
                                               ((90, 200), (96, 96), "crop"), ((480, 640), (16, 16), "squash")])
def test_the_graph_resizes_like_the_runtime(frame, model, rule):
    """Pillow's own antialiased taps (gathered, or one dense MatMul for a large downscale)."""
    rgb = load_frame(skimage.data.coffee(), *frame, rule="squash")
    planes = rgb_to_yuv420(rgb, "nv12", "bt601", "full")
    ref_rgb = yuv420_to_rgb(planes, "nv12", "bt601", "full")
    front = YuvInput("nv12", "bt601", "full", *frame, *model, (0, 0, 0), (1 / 255,) * 3, "bicubic", rule)
    got = front(torch.from_numpy(planes)[None]).numpy()[0].transpose(1, 2, 0)
    ref = np.asarray(resize(Image.fromarray(ref_rgb), *model, rule, "bicubic"), np.float32)
    d = np.abs(got - ref)
    assert d.max() <= 2.0 and d.mean() <= 0.5, (d.max(), d.mean())
    if frame == (480, 640):
        assert any(m.dense for m in front.resize) and MAX_GATHER_TAPS < 480 / 16 * 4


@pytest.fixture(scope="module")
def camera_bundles(trained, tmp_path_factory):
    _, ckpt = trained
    out = tmp_path_factory.mktemp("camera")
    rgb = export_bundle(ckpt, out / "rgb").bundle
    nv12 = export_bundle(ckpt, out / "nv12", ExportOptions(graphs=GraphOptions(("fp32", "int8")),
                                                            input=InputOptions("nv12", FRAME))).bundle
    i420 = export_bundle(ckpt, out / "i420", ExportOptions(input=InputOptions("i420", yuv_matrix="bt709",
                                                                                  yuv_range="full"))).bundle
    return rgb, nv12, i420


def _range(bundle: Path) -> float:
    scale = json.loads((bundle / "manifest.json").read_text())["score"]["scale"]
    return scale["hi"] - scale["lo"]


def test_nv12_and_i420_scores_of_real_photos_match_their_rgb_scores(camera_bundles):
    rgb_b, nv12_b, i420_b = camera_bundles
    span = _range(rgb_b)
    with Scorer.load(rgb_b) as rgb, Scorer.load(nv12_b, precision="fp32") as nv12, Scorer.load(i420_b) as i420:
        assert nv12.item_shape == (FRAME[0] * 3 // 2, FRAME[1])
        assert i420.item_shape == (rgb.height * 3 // 2, rgb.width)
        worst = {"nv12": 0.0, "nv12_ref": 0.0, "i420": 0.0, "i420_ref": 0.0}
        for photo in real_photos():
            frame = load_frame(photo, *FRAME, rule="crop")  # the photo as the camera's frame
            planes = rgb_to_yuv420(frame, "nv12", "bt601", "limited")
            s_nv12 = float(nv12.score_array(planes[None])[0])
            worst["nv12"] = max(worst["nv12"], abs(s_nv12 - rgb.score([frame])[0].score))
            ref = rgb.score([yuv420_to_rgb(planes, "nv12", "bt601", "limited")])[0].score
            worst["nv12_ref"] = max(worst["nv12_ref"], abs(s_nv12 - ref))
            small = rgb.load_frame(photo)
            p420 = rgb_to_yuv420(small, "i420", "bt709", "full")
            s_i420 = float(i420.score_array(p420[None])[0])
            worst["i420"] = max(worst["i420"], abs(s_i420 - rgb.score([small])[0].score))
            ref = rgb.score([yuv420_to_rgb(p420, "i420", "bt709", "full")])[0].score
            worst["i420_ref"] = max(worst["i420_ref"], abs(s_i420 - ref))
    assert worst["nv12"] <= TOL_VS_RGB * span and worst["i420"] <= TOL_VS_RGB_SAME_SIZE * span, (worst, span)
    assert max(worst["nv12_ref"], worst["i420_ref"]) <= TOL_VS_REFERENCE * span, (worst, span)


def test_a_camera_bundle_records_its_input_and_takes_only_a_cast(camera_bundles):
    import onnx

    _, nv12_b, i420_b = camera_bundles
    inp = json.loads((nv12_b / "manifest.json").read_text())["input"]
    assert inp["pixel_format"] == "nv12" and (inp["frame_height"], inp["frame_width"]) == FRAME
    assert inp["yuv"] == {**inp["yuv"], "matrix": "bt601", "range": "limited"}
    assert json.loads((i420_b / "manifest.json").read_text())["input"]["yuv"]["matrix"] == "bt709"
    for name in ("model.fp32.onnx", "model.int8.onnx"):
        graph = onnx.load(str(nv12_b / name)).graph
        dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim[1:]]
        assert dims == [FRAME[0] * 3 // 2, FRAME[1]]
        consumers = [n.op_type for n in graph.node if graph.input[0].name in n.input]
        assert consumers == ["Cast"], (name, consumers)


def test_a_camera_bundle_still_scores_files_and_refuses_wrong_planes(camera_bundles, photo):
    _, nv12_b, _ = camera_bundles
    with Scorer.load(nv12_b) as nv12:
        r = nv12.score([photo, b"junk"])
        assert r[0].ok and not r[1].ok  # a JPEG is resized to the frame and converted by the runtime
        with pytest.raises(ValueError, match=r"NV12 planes uint8 \[N, 144, 128\]"):
            nv12.score_array(np.zeros((1, 96, 128, 3), np.uint8))
        frames = np.stack([rgb_to_yuv420(load_frame(photo, *FRAME, rule="crop"))] * 3)
        assert len(nv12.score(frames)) == 3  # one [N, rows, W] array is N frames


def test_score_cli_reads_raw_yuv_video_files(camera_bundles, photo, tmp_path):
    rgb_b, nv12_b, _ = camera_bundles
    base = load_frame(photo, *FRAME, rule="crop")
    frames = np.stack([rgb_to_yuv420(base), rgb_to_yuv420(np.ascontiguousarray(base[:, ::-1]))])
    raw = tmp_path / "clip.yuv"
    frames.tofile(raw)
    assert read_yuv_file(raw, FRAME[1], FRAME[0]).shape == (2, 144, 128)
    size = f"{FRAME[1]}x{FRAME[0]}"
    with Scorer.load(nv12_b) as nv12:
        expected = nv12.score_array(frames)
    for bundle in (nv12_b, rgb_b):  # native planes, or converted to RGB for an RGB bundle
        out = subprocess.run([*EDGEIQA, "score", "--bundle", str(bundle), "--yuv", "nv12", "--size", size, str(raw),
                              "--json"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        rows = [json.loads(x) for x in out.stdout.splitlines()]
        assert [r["path"] for r in rows] == [f"{raw}#0", f"{raw}#1"]
        tol = 1e-3 if bundle == nv12_b else TOL_VS_RGB * _range(bundle)
        assert np.allclose([r["score"] for r in rows], expected, atol=tol)
    bad = subprocess.run([*EDGEIQA, "score", "--bundle", str(nv12_b), "--yuv", "nv12", "--size", "100x96", str(raw)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "not a whole number" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("opts,match", [
    (dict(frame=(96, 128)), "needs --input nv12"),
    (dict(pixel_format="nv12", frame=(95, 128)), "even"),
    (dict(pixel_format="nv12", float_input=True), "exclude each other"),
    (dict(pixel_format="yuyv"), "--input must be one of"),
])
def test_bad_camera_options_are_clear_errors(trained, tmp_path, opts, match):
    _, ckpt = trained
    with pytest.raises(ExportError, match=match):
        export_bundle(ckpt, tmp_path / "b", ExportOptions(input=InputOptions(**opts)))
    assert not (tmp_path / "b").exists()


def test_select_cli_streams_a_raw_yuv_video(camera_bundles, photo, tmp_path):
    _, nv12_b, _ = camera_bundles
    base = load_frame(photo, *FRAME, rule="crop")
    frames = np.stack([rgb_to_yuv420(base)] * 4)
    (tmp_path / "clip.yuv").write_bytes(frames.tobytes())
    res = subprocess.run([*EDGEIQA, "select", "--bundle", str(nv12_b), "--yuv", "nv12", "--size",
                          f"{FRAME[1]}x{FRAME[0]}", "--window", "2", "--json", str(tmp_path / "clip.yuv")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    events = [json.loads(x) for x in res.stdout.splitlines()]
    assert [e["event"] for e in events] == ["best", "best"]
    assert [e["window"][0].rsplit("#", 1)[1] for e in events] == ["0", "2"]


def _guide_python(section: str) -> list[str]:
    """The ```python blocks of docs/camera.md from `section` on."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "camera.md").read_text()
    part = text[text.index(section):]
    return [block.split("```", 1)[0] for block in part.split("```python\n")[1:]]


def test_the_integration_guides_python_runs(camera_bundles, photo, tmp_path, monkeypatch):
    _, nv12_b, _ = camera_bundles
    blocks = _guide_python("## Camera integration")
    assert len(blocks) == 2
    base = load_frame(photo, *FRAME, rule="crop")
    planes = np.stack([rgb_to_yuv420(base), rgb_to_yuv420(np.ascontiguousarray(base[::-1]))] * 3)
    raw = tmp_path / "frames.yuv"
    planes.tofile(raw)
    with Scorer.load(nv12_b, precision="int8") as device:  # the "device": another model of the bundle
        np.savetxt(tmp_path / "device.txt", device.score_array(planes))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{__import__('os').environ.get('PATH', '')}")
    env = {"BUNDLE": nv12_b, "FRAMES": list(planes), "RAW_FRAMES": raw, "DEVICE_SCORES": tmp_path / "device.txt"}
    for block in blocks:
        exec(compile(block, "docs/camera.md", "exec"), dict(env))  # noqa: S102 - the guide's own code


def test_no_int8_flavour_quantises_the_camera_front_end_or_the_residual_stream(trained, tmp_path):
    """Graph walk: nothing between the input and the stem Conv reads a quantised activation, in
    either int8 flavour; in the TensorRT flavour only Conv/MatMul/Gemm read one (the residual Adds
    and the stage statistics read float)."""
    import onnx
    from edgeiqa.export.onnx_graph import activation_dq, producers
    from edgeiqa.export.quantize import front_nodes

    out = export_bundle(trained[1], tmp_path / "nv12", ExportOptions(
        graphs=GraphOptions(("fp32", "int8", "int8-cpu")), input=InputOptions("nv12", FRAME))).bundle
    for name in ("model.int8.onnx", "model.int8-cpu.onnx"):
        graph = onnx.load(str(out / name)).graph
        made_by = producers(graph)
        qdq = {n.name for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")}
        front = set(front_nodes(out / name)) - qdq  # walked in this graph itself, up to its stem Conv
        assert len(front) > 10, name  # the colour conversion and the resize, not only the Cast
        reads_int8 = {n.name: n.op_type for n in graph.node
                      if any(i in made_by and activation_dq(made_by[i], made_by) for i in n.input)}
        assert not front & set(reads_int8), (name, front & set(reads_int8))
        if name == "model.int8.onnx":
            assert set(reads_int8.values()) <= {"Conv", "MatMul", "Gemm"}, set(reads_int8.values())
