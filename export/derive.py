"""`edgeiqa derive`: a camera variant of any bundle, without its checkpoint and without torch.

An RGB bundle's graphs all start the same way: `frames` (uint8 NHWC at the model's size) feeds
one Cast to float, and the Cast feeds the rest (export/onnx_export.cast_only_input guarantees
it). Deriving replaces that Cast by a camera front end authored here in ONNX: raw NV12 / I420
planes at the camera's frame size -> float -> the standard's YUV -> RGB coefficients -> the
runtime's resize rule ("crop" or "squash") with Pillow's own antialiasing taps (one Gather and
multiply-add per tap, per axis) -> float NHWC 0..255, wired to what the Cast fed. Each stage
rounds to whole levels where the RGB path holds uint8 (the converted frame, each resize pass), so
the graph sees the values the runtime would have given it for the same frame in RGB. The same front
end goes in front of every graph of the bundle, the int8 ones included, and stays float in all of
them: it is composed after quantisation, so no calibrator ever sees it.

This is the front end `edgeiqa export --input nv12` builds from PyTorch (export/yuv_input.py),
written directly in ONNX so that an integrator with only a bundle can make it. The derived
bundle's reference frames are the source bundle's, resized to the frame size and converted to
YUV. Two numbers go in the manifest (`derived_from`):
- `check`, the gate: the derived fp32 graph against the source's fp32 graph fed the same planes
  converted by the runtime (`yuv420_to_rgb`, what `edgeiqa score frame.nv12` does with an RGB
  bundle). Only the front end differs, so anything past float noise is a bug and nothing is
  written.
- `yuv420`, a measurement: the same planes against the source's scores of the RGB pictures they
  were made from. This is what the 4:2:0 format itself costs the model (chroma at half
  resolution, Y in 219 levels): a property of the model, reported, not a reason to refuse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from edgeiqa.export.camera_geometry import COEFFICIENTS, resize_taps, source_box
from edgeiqa.export.onnx_graph import topological_order
from edgeiqa.export.staged_folder import staged_folder
from edgeiqa.runtime.bundle import INPUT_NAME, MANIFEST, load_bundle, sha256_file
from edgeiqa.runtime.errors import EdgeIQAError
from edgeiqa.runtime.input_spec import InputSpec, InputSpecError
from edgeiqa.runtime.yuv import YUV_FORMATS, rgb_to_yuv420, yuv420_to_rgb
from PIL import Image

PREFIX = "camera_front/"
# The derived fp32 graph against the source's fp32 graph on the same planes converted by the runtime,
# in MOS-range fractions. The two compute the same values up to float order and the odd pixel
# rounded the other way, so the real gap is ~0.1%; 2% leaves room for an fp32 graph on other
# hardware and still catches a wrong matrix, range or plane order (several % to tens of %).
DERIVE_TOLERANCE = 0.02


class DeriveError(EdgeIQAError):
    pass


class _Front:
    """Builds the front-end nodes and initialisers with prefixed names."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def const(self, value: Any, dtype: Any = np.float32) -> str:
        self._n += 1
        name = f"{PREFIX}c{self._n}"
        self.inits.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs: Any) -> str:
        self._n += 1
        out = out or f"{PREFIX}{op_type.lower()}{self._n}"
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=f"{PREFIX}{op_type}{self._n}", **attrs))
        return out

    def resample(self, x: str, idx: np.ndarray, w: np.ndarray, axis: int) -> str:
        """One antialiased pass along `axis` of NHWC 0..255 values, clipped and rounded as Pillow's
        uint8 pass is."""
        shape = [1, 1, 1, 1]
        shape[axis] = idx.shape[0]
        out = None
        for k in range(idx.shape[1]):
            g = self.op("Gather", [x, self.const(idx[:, k], np.int64)], axis=axis)
            term = self.op("Mul", [g, self.const(w[:, k].reshape(shape))])
            out = term if out is None else self.op("Add", [out, term])
        return self.op("Round", [self.op("Clip", [out, self.const(0.0), self.const(255.0)])])


def front_end(spec: InputSpec, output: str, output_type: int = 1) -> tuple[list[Any], list[Any]]:
    """Nodes and initialisers: uint8 planes `frames` -> NHWC [N, height, width, 3] named `output`.

    The front end computes in float32 whatever the graph; `output_type` (an ONNX TensorProto type:
    16-bit for an fp16 graph) is what the replaced Cast produced, and the last node casts to it."""
    f = _Front()
    h, w = spec.frame_size
    height, width = spec.height, spec.width
    a, b, c, d = COEFFICIENTS[spec.yuv_matrix]
    y_off, y_gain, c_gain = (16.0, 255.0 / 219.0, 255.0 / 224.0) if spec.yuv_range == "limited" else (0.0, 1.0, 1.0)
    x = f.op("Cast", [INPUT_NAME], to=1)  # TensorRT: the uint8 input's only consumer is a Cast
    y = f.op("Slice", [x, f.const([0], np.int64), f.const([h], np.int64), f.const([1], np.int64)])
    y = f.op("Mul", [f.op("Sub", [y, f.const(y_off)]), f.const(y_gain)])  # [N, h, w]
    chroma = f.op("Slice", [x, f.const([h], np.int64), f.const([h + h // 2], np.int64), f.const([1], np.int64)])
    if spec.pixel_format == "nv12":
        ch = f.op("Reshape", [chroma, f.const([-1, h // 2, w // 2, 2], np.int64)])
        axis = 3
    else:
        ch = f.op("Reshape", [chroma, f.const([-1, 2, h // 2, w // 2], np.int64)])
        axis = 1

    def plane(i: int) -> str:  # one chroma plane, centred, each sample over its 2x2 block
        p = f.op("Gather", [ch, f.const(i, np.int64)], axis=axis)  # [N, h/2, w/2]
        p = f.op("Mul", [f.op("Sub", [p, f.const(128.0)]), f.const(c_gain)])
        p = f.op("Reshape", [p, f.const([-1, h // 2, 1, w // 2, 1], np.int64)])
        p = f.op("Expand", [p, f.const([1, 1, 2, 1, 2], np.int64)])
        return f.op("Reshape", [p, f.const([-1, h, w], np.int64)])

    u, v = plane(0), plane(1)
    r = f.op("Add", [y, f.op("Mul", [v, f.const(a)])])
    g = f.op("Sub", [f.op("Sub", [y, f.op("Mul", [u, f.const(b)])]), f.op("Mul", [v, f.const(c)])])
    bl = f.op("Add", [y, f.op("Mul", [u, f.const(d)])])
    rgb = f.op("Concat", [f.op("Unsqueeze", [t, f.const([3], np.int64)]) for t in (r, g, bl)], axis=3)
    rgb = f.op("Round", [f.op("Clip", [rgb, f.const(0.0), f.const(255.0)])])  # [N, h, w, 3], an RGB frame's values
    if (h, w) != (height, width):
        x0, y0, x1, y1 = source_box(h, w, height, width, spec.resize)
        rgb = f.resample(rgb, *resize_taps(w, width, x0, x1, spec.interpolation), axis=2)
        rgb = f.resample(rgb, *resize_taps(h, height, y0, y1, spec.interpolation), axis=1)
    if output_type == 1:
        f.op("Identity", [rgb], out=output)
    else:
        f.op("Cast", [rgb], out=output, to=output_type)
    return f.nodes, f.inits


def derive_graph(src: Path, dst: Path, spec: InputSpec) -> None:
    """Compose the front end of `spec` in front of one ONNX graph of the bundle (an RGB `spec`:
    the same graph, its batch fixed)."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(src), load_external_data=True)
    graph = model.graph
    if [i.name for i in graph.input] != [INPUT_NAME]:
        raise DeriveError(f"{src.name}: expected one input {INPUT_NAME!r}, found {[i.name for i in graph.input]}")
    casts = [n for n in graph.node if n.op_type == "Cast" and list(n.input) == [INPUT_NAME]]
    readers = [n for n in graph.node if INPUT_NAME in n.input]
    if len(casts) != 1 or len(readers) != 1:
        raise DeriveError(f"{src.name}: its input feeds {len(readers)} nodes; expected one Cast (re-export the bundle "
                          "with this edgeiqa)")
    static_batch = spec.batch if isinstance(spec.batch, int) else 0
    if not spec.is_yuv:  # the same graph with a fixed batch
        graph.input[0].type.tensor_type.shape.dim[0].dim_value = static_batch
        ordered = topological_order(list(graph.node), {i.name for i in graph.initializer} | {INPUT_NAME})
        del graph.node[:]
        graph.node.extend(ordered)
        del graph.value_info[:]
        onnx.checker.check_model(model, full_check=False)
        onnx.save(model, str(dst))
        return
    cast = casts[0]
    to = next(a.i for a in cast.attribute if a.name == "to")
    nodes, inits = front_end(spec, cast.output[0], to)
    rest = [n for n in graph.node if n is not cast]
    known = {i.name for i in graph.initializer} | {i.name for i in inits} | {INPUT_NAME}
    ordered = topological_order(nodes + rest, known)
    del graph.node[:]
    graph.node.extend(ordered)
    graph.initializer.extend(inits)
    rows, cols = spec.item_shape
    new_input = helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8,
                                              [static_batch or "batch", rows, cols])
    del graph.input[:]
    graph.input.extend([new_input])
    del graph.value_info[:]  # shapes inferred from the old input would be stale
    onnx.checker.check_model(model, full_check=False)
    onnx.save(model, str(dst))


def _reference_for(source, spec: InputSpec) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(RGB frames at the camera's size, their YUV planes, names) from the source's reference frames."""
    from edgeiqa.runtime.reference import load_reference

    ref = load_reference(source)
    if not spec.is_yuv:
        return ref.frames, ref.frames, ref.names
    fh, fw = spec.frame_size
    rgb = []
    for frame in ref.frames:  # cover the camera frame, centred (the model's crop rule then maps it back)
        img = Image.fromarray(frame)
        scale = max(fw / img.width, fh / img.height)
        big = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
        x0, y0 = (big.width - fw) // 2, (big.height - fh) // 2
        rgb.append(np.asarray(big.crop((x0, y0, x0 + fw, y0 + fh))))
    rgb_frames = np.stack(rgb)
    planes = np.stack([rgb_to_yuv420(f, spec.pixel_format, spec.yuv_matrix, spec.yuv_range) for f in rgb_frames])
    return rgb_frames, planes, ref.names


def camera_spec(source: InputSpec, pixel_format: str, frame: tuple[int, int] | None, yuv_matrix: str,
                yuv_range: str, static_batch: int) -> InputSpec:
    """The derived bundle's input: the source's model input, taken as `pixel_format` planes of
    `frame` (height, width), or - for "rgb" - the same frames at a fixed batch."""
    if source.is_yuv:
        raise DeriveError(f"the bundle already takes {source.pixel_format}: derive from an RGB bundle")
    if source.float_input:
        raise DeriveError("the bundle takes float input (--float-input): derive from a uint8 RGB bundle")
    if static_batch < 0 or (pixel_format == "rgb" and not static_batch):
        raise DeriveError("--input rgb derives a fixed-batch variant: give --static-batch N >= 1"
                          if pixel_format == "rgb" else f"--static-batch must be >= 1, got {static_batch}")
    if pixel_format in YUV_FORMATS and frame is None:
        raise DeriveError("--input nv12|i420 needs --frame WxH (the camera's frame size)")
    try:
        return source.replace(pixel_format=pixel_format, frame=frame, yuv_matrix=yuv_matrix, yuv_range=yuv_range,
                              batch=static_batch or "dynamic").validate()
    except InputSpecError as err:
        raise DeriveError(str(err)) from err


def derive_bundle(bundle: str | Path, out: str | Path, pixel_format: str = "nv12",
                  frame: tuple[int, int] | None = None, yuv_matrix: str = "bt601", yuv_range: str = "limited",
                  static_batch: int = 0, force: bool = False) -> dict[str, Any]:
    """Write a camera variant of `bundle` at `out` (frame: the camera's (height, width)); returns
    its manifest."""
    from edgeiqa.runtime import cpu_class
    from edgeiqa.runtime.reference import write_reference

    source = load_bundle(bundle)  # every file's sha256 checked
    spec = camera_spec(source.input_spec, pixel_format, frame, yuv_matrix, yuv_range, static_batch)
    out = Path(out)
    if out.exists() and not force:
        raise DeriveError(f"{out} exists; pass --force to replace it")
    graphs = source.find("onnx")
    if not graphs:
        raise DeriveError(f"{source.path} has no ONNX graph to derive from")
    rgb_frames, planes, names = _reference_for(source, spec)
    with staged_folder(out) as tmp:
        models = []
        for entry in sorted(graphs, key=lambda e: e.precision != "fp32"):
            derive_graph(source.file(entry), tmp / entry.file, spec)
            info = {k: v for k, v in entry.info.items() if k not in ("data_file", "ops")}
            fh, fw = spec.frame_size
            info["derived"] = (f"batch fixed to {static_batch}" if not spec.is_yuv else
                               f"{spec.pixel_format} {fw}x{fh} front end composed in front of the source graph "
                               "(float in every precision)")
            models.append(info)
        manifest = json.loads(json.dumps(source.manifest))
        manifest["input"] = spec.manifest_block()
        manifest["models"] = models
        manifest["files"] = {}
        manifest.pop("reference", None)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        manifest["files"] = {m["file"]: sha256_file(tmp / m["file"]) for m in models}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        scores = {m["precision"]: _score_planes(tmp, m["precision"], planes) for m in models}
        check, loss = _compare_with_source(source, spec, scores["fp32"], planes, rgb_frames)
        manifest["reference"] = write_reference(tmp, planes, names, scores, cpu_class.detect().to_dict())
        manifest["derived_from"] = {"bundle": str(source.path), "manifest_sha256": sha256_file(source.path / MANIFEST),
                                    "check": check, "yuv420": loss}
        manifest["notes"] = list(manifest.get("notes", [])) + [
            "derived by `edgeiqa derive`: TensorRT engines are not carried over; build them with `edgeiqa engine`"]
        _write_header(tmp, manifest)
        manifest["files"] = {f.name: sha256_file(f) for f in sorted(tmp.iterdir())
                             if f.is_file() and f.name != MANIFEST}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _score_planes(folder: Path, precision: str, planes: np.ndarray) -> np.ndarray:
    from edgeiqa.runtime.scorer import Scorer

    with Scorer.load(folder, backend="onnxruntime", device="cpu", precision=precision) as scorer:
        return scorer.score_array(planes)


def _compare_with_source(source: Any, spec: InputSpec, derived_fp32: np.ndarray, planes: np.ndarray,
                         rgb_frames: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """(check, yuv420): the derived fp32 scores against the source's fp32 graph on the same planes
    converted by the runtime (the gate: raises past DERIVE_TOLERANCE), and on the RGB pictures the
    planes came from (what 4:2:0 costs the model, reported)."""
    from edgeiqa.runtime.scorer import Scorer

    with Scorer.load(source.path, backend="onnxruntime", device="cpu", precision="fp32") as rgb:
        runtime_rgb = [yuv420_to_rgb(p, *spec.yuv) for p in planes] if spec.is_yuv else list(rgb_frames)
        same_planes = np.array([r.score for r in rgb.score(runtime_rgb)])
        source_rgb = np.array([r.score for r in rgb.score(list(rgb_frames))])
    scale = source.manifest["score"]["scale"]
    span = float(scale["hi"]) - float(scale["lo"])
    check = _difference(derived_fp32, same_planes, span,
                        "the source's fp32 graph on the same planes converted to RGB by the runtime")
    check["tolerance"] = DERIVE_TOLERANCE
    if check["max_abs_fraction_of_range"] > DERIVE_TOLERANCE:
        raise DeriveError(f"the derived fp32 graph scores the reference planes up to "
                          f"{100 * check['max_abs_fraction_of_range']:.1f}% of the score range away from the "
                          f"RGB bundle on the same planes (tolerance {100 * DERIVE_TOLERANCE:.0f}%): the front end "
                          "is wrong")
    loss = _difference(derived_fp32, source_rgb, span,
                       "the source's fp32 graph on the RGB pictures the planes were made from")
    return check, loss


def _difference(a: np.ndarray, b: np.ndarray, span: float, vs: str) -> dict[str, Any]:
    diff = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) / span
    return {"vs": vs, "max_abs_fraction_of_range": float(diff.max()), "mean_abs_fraction_of_range": float(diff.mean()),
            "n": int(len(diff))}


def _write_header(folder: Path, manifest: dict[str, Any]) -> None:
    from edgeiqa.runtime.c_header import HEADER_FILE, c_header

    (folder / HEADER_FILE).write_text(c_header(manifest))
