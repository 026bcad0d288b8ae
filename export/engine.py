"""`edgeiqa engine`: TensorRT engines from a bundle's own graphs, on the device, no checkpoint.

For each precision asked for, the engine is built from the bundle's graph of that precision
(strongly typed: the graph's types decide the kernels; fp16 from `model.fp16.onnx`, made here from
the fp32 graph when the bundle has none; int8 from the TensorRT-flavoured QDQ graph, never from the
CPU flavours). It is then ACCEPTED ONLY IF it scores the bundle's reference frames within its
precision's tolerance of the fp32 scores recorded at export (the `edgeiqa verify` table); an
engine that fails is deleted and reported, and the bundle keeps what it had. Accepted engines join
the manifest with their sha256. Needs the full TensorRT package and a GPU (pip install
'edgeiqa[trt]'); nothing here imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeiqa.runtime.bundle import CPU_ONLY_PRECISIONS, MANIFEST, Bundle, load_bundle, sha256_file
from edgeiqa.runtime.errors import BackendUnavailableError, EdgeIQAError

ENGINE_PRECISIONS = ("fp32", "fp16", "int8")
# A camera frame's float tensors dominate an engine's activation memory: keep one batch of them
# (3 float channels at the frame size) under this many bytes by default, so a 1080p NV12 profile
# fits an 8 GB Jetson (the RGB profile's batch 32 would need about 0.8 GB for one tensor).
CAMERA_BATCH_BYTES = 256 << 20


class EngineError(EdgeIQAError):
    pass


@dataclass
class EngineOutcome:
    precision: str
    file: str | None
    accepted: bool
    detail: str


def default_profile(inp: dict[str, Any]) -> tuple[int, int, int]:
    """(min, opt, max) batch: 1,8,32 for RGB at the model's size; for a camera bundle, latency first
    (opt 1) and a max whose front-end float tensor fits CAMERA_BATCH_BYTES; a fixed batch as it is."""
    if isinstance(inp.get("batch"), int):
        return (inp["batch"],) * 3  # type: ignore[return-value]
    if inp.get("pixel_format", "rgb") == "rgb":
        return 1, 8, 32
    per_frame = int(inp["frame_height"]) * int(inp["frame_width"]) * 3 * 4
    top = max(1, min(32, CAMERA_BATCH_BYTES // per_frame))
    top = 1 << (top.bit_length() - 1)  # a power of two
    return 1, 1, top


def source_graph(bundle: Bundle, precision: str) -> Path:
    """The ONNX graph an engine of `precision` is built from (fp16 made from fp32 when missing)."""
    if precision not in ENGINE_PRECISIONS:
        raise EngineError(f"--precision takes {', '.join(ENGINE_PRECISIONS)} (the CPU graphs "
                          f"{', '.join(CPU_ONLY_PRECISIONS)} are never for TensorRT); got {precision!r}")
    found = [m for m in bundle.find("onnx") if m.precision == precision]
    if found:
        return bundle.file(found[0])
    if precision != "fp16":
        raise EngineError(f"{bundle.path} has no {precision} ONNX graph to build from; make it from the bundle, "
                          f"calibrated on your camera's photos: edgeiqa quantize {bundle.path} --out DIR "
                          f"--precision {precision} --calib PHOTOS")
    return add_fp16_graph(bundle)


def add_fp16_graph(bundle: Bundle) -> Path:
    """Make model.fp16.onnx from the fp32 graph (inputs and outputs stay as they are) and hash it in."""
    from edgeiqa.export.quantize import to_fp16

    fp32 = [m for m in bundle.find("onnx") if m.precision == "fp32"]
    if not fp32:
        raise EngineError(f"{bundle.path} has no fp32 graph to make an fp16 one from")
    dst = bundle.path / "model.fp16.onnx"
    to_fp16(bundle.file(fp32[0]), dst)
    _add_to_manifest(bundle.path, {"file": dst.name, "format": "onnx", "precision": "fp16",
                                   "made_by": "edgeiqa engine, from the fp32 graph (onnxruntime float16)"}, [dst])
    return dst


def _add_to_manifest(folder: Path, entry: dict[str, Any], files: list[Path]) -> None:
    path = folder / MANIFEST
    m = json.loads(path.read_text())
    m["models"] = [e for e in m["models"] if e["file"] != entry["file"]] + [entry]
    for f in files:
        m["files"][f.name] = sha256_file(f)
    path.write_text(json.dumps(m, indent=2) + "\n")


def _remove_from_manifest(folder: Path, name: str) -> None:
    path = folder / MANIFEST
    m = json.loads(path.read_text())
    m["models"] = [e for e in m["models"] if e["file"] != name]
    m["files"].pop(name, None)
    path.write_text(json.dumps(m, indent=2) + "\n")


def build_engines(bundle_path: str | Path, precisions: tuple[str, ...] | None = None,
                  batch: tuple[int, int, int] | None = None, version_compatible: bool = False
                  ) -> list[EngineOutcome]:
    """Build, verify and (if within tolerance) add one engine per precision (default: fp16, and int8
    where the bundle has an int8 graph)."""
    from edgeiqa.export.tensorrt_build import build_engine, tensorrt_available
    from edgeiqa.runtime.verify import verify_bundle

    bundle = load_bundle(bundle_path)  # hashes checked before anything is built from the graphs
    if precisions is None:
        precisions = ("fp16", "int8") if bundle.find("onnx", "int8") else ("fp16",)
    bad = [p for p in precisions if p not in ENGINE_PRECISIONS]
    if bad or not precisions:
        raise EngineError(f"--precision takes {', '.join(ENGINE_PRECISIONS)} (the CPU graphs "
                          f"{', '.join(CPU_ONLY_PRECISIONS)} are never for TensorRT); got {', '.join(precisions)}")
    if bundle.path.name == "default_model" or "site-packages" in str(bundle.path):
        raise EngineError(f"{bundle.path} is the installed default model: copy it first "
                          "(cp -r $(edgeiqa info default --path) mybundle) and build engines into the copy")
    if "reference" not in bundle.manifest:
        raise EngineError(f"{bundle.path} has no reference frames to accept an engine against; re-export it")
    ok, reason = tensorrt_available()
    if not ok:
        raise BackendUnavailableError(reason)
    profile = batch or default_profile(bundle.manifest["input"])
    outcomes = []
    for precision in precisions:
        src = source_graph(load_bundle(bundle.path, verify=False), precision)
        try:
            entry = build_engine(src, bundle.path, precision, bundle.input_spec.item_shape, profile,
                                 version_compatible=version_compatible)
        except (RuntimeError, BackendUnavailableError) as err:
            outcomes.append(EngineOutcome(precision, None, False, f"build failed: {err}"))
            continue
        engine = bundle.path / entry["file"]
        _add_to_manifest(bundle.path, entry, [engine])
        rows, _ = verify_bundle(bundle.path, backend="tensorrt", precisions=[precision])
        row = next((r for r in rows if r.file == entry["file"]), None)
        if row is None or row.error or row.status != "pass":
            why = row.error if row is not None and row.error else (
                f"reference frames max {row.max_abs:.3f} / mean {row.mean_abs:.3f} MOS, tolerance "
                f"{row.tolerance_max:.2f} / {row.tolerance_mean:.2f}" if row is not None else "not verified")
            _remove_from_manifest(bundle.path, entry["file"])
            engine.unlink(missing_ok=True)
            outcomes.append(EngineOutcome(precision, entry["file"], False, f"refused: {why}"))
            continue
        entry["verified"] = {"reference_frames": len(rows) and int(bundle.manifest["reference"]["count"]),
                             "max_abs": row.max_abs, "mean_abs": row.mean_abs}
        _add_to_manifest(bundle.path, entry, [engine])
        outcomes.append(EngineOutcome(precision, entry["file"], True,
                                      f"accepted: max {row.max_abs:.3f} / mean {row.mean_abs:.3f} MOS vs fp32 on the "
                                      f"reference frames, profile {profile}"))
    return outcomes
