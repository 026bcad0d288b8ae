"""Checkpoint -> bundle: merge LoRA, fold the head, bake preprocessing, write and check ONNX
(fp32 / fp16 / int8), optionally build TensorRT engines and a Triton repository, then write the
manifest. Everything is written to a temporary folder that replaces OUT only at the end, so a
failed export never leaves a half-written bundle behind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from edgeiqa.export.checks import enforce
from edgeiqa.export.fold import fold_head, measure_on
from edgeiqa.export.graph import ScoringGraph, prepare_for_export
from edgeiqa.export.onnx_export import export_onnx, graph_ops, run_onnx
from edgeiqa.runtime.bundle import INPUT_NAME, MANIFEST, OUTPUT_NAME, PRECISIONS, SCHEMA, SCHEMA_VERSION, sha256_file
from edgeiqa.runtime.errors import BackendUnavailableError, EdgeIQAError, ImageDecodeError
from edgeiqa.runtime.preprocess import find_images
from edgeiqa.train.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_config
from edgeiqa.train.data.records import LabelScale
from edgeiqa.train.registry import UnknownNameError

from edgeiqa import __version__

MIN_CALIBRATION_IMAGES = 8
MIN_RANK_IMAGES = 20  # below this a Spearman between precisions is noise (one swap in 5 images: 0.9)


class ExportError(EdgeIQAError):
    pass


@dataclass
class ExportOptions:
    precisions: tuple[str, ...] = ("fp32",)
    calib: str | None = None  # folder of calibration images; default: a sample of the training split
    calib_count: int = 64
    prune: float = 0.0
    float_input: bool = False
    trt: bool = False
    trt_batch: tuple[int, int, int] = (1, 8, 32)
    triton: str | None = None
    force: bool = False
    opset: int = 18
    check_count: int = 32
    ship: tuple[str, ...] | None = None  # precisions kept in the bundle (default: every one exported)
    model_card: dict[str, Any] | None = None  # what the model was trained on and how it was measured
    static_batch: int = 0  # > 0: a fixed batch (and TensorRT profile min = opt = max = it)
    tf32: bool = False  # let fp32 TensorRT engines use TF32 tensor cores
    trt_version_compatible: bool = False  # plans the lean runtime and later TensorRT versions can load
    check: bool = True  # fail when a measured error exceeds its tolerance (edgeiqa.export.checks)


@dataclass
class ExportResult:
    bundle: Path
    manifest: dict[str, Any]
    trt_error: str | None = None
    notes: list[str] = field(default_factory=list)


def _load(checkpoint: Path) -> tuple[Any, dict[str, Any]]:
    read_checkpoint_config(checkpoint)  # format/version errors first, with their own message
    try:
        return load_checkpoint(checkpoint)
    except UnknownNameError as err:
        raise ExportError(f"checkpoint {checkpoint} names something this edgeiqa does not know: {err}") from err


def _dataset_images(cfg: dict[str, Any], checkpoint: Path, splits: tuple[str, ...], n: int, seed: int
                    ) -> tuple[list[Path], list[float]]:
    """Images (and MOS) of the checkpoint's own split, when its dataset is still where it was."""
    from edgeiqa.train.data.registry import load_dataset
    from edgeiqa.train.data.splits import load_split

    t = cfg["train"]
    try:
        ds = load_dataset(t["dataset"], t["data_root"], **({"csv": t["csv"]} if t.get("csv") else {}))
        split = load_split(checkpoint / "split.json", ds)
    except (EdgeIQAError, OSError, KeyError):
        return [], []
    idx = [i for s in splits for i in split.get(s, []) if ds.samples[i].path.is_file()]
    if len(idx) > n:
        idx = sorted(np.random.default_rng(seed).choice(idx, n, replace=False).tolist())
    return [ds.samples[i].path for i in idx], [ds.samples[i].mos for i in idx]


def _load_frames(paths: list[Path], pre: Any) -> tuple[np.ndarray, list[str]]:
    frames, bad = [], []
    for p in paths:
        try:
            frames.append(pre.load(p))
        except ImageDecodeError as err:
            bad.append(str(err))
    shape = (0, pre.height, pre.width, 3)
    return (np.stack(frames) if frames else np.zeros(shape, np.uint8)), bad


def _check_output_folder(out: Path, force: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if any(out.iterdir()) and not force:
        what = "a bundle" if (out / MANIFEST).is_file() else "other files"
        raise ExportError(f"{out} already holds {what}; choose another --out or pass --force to replace it")


def _tool_versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import timm

    return {"edgeiqa": __version__, "torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__, "timm": timm.__version__, "python": platform.python_version()}


def _score_error(ref: np.ndarray, other: np.ndarray) -> dict[str, float]:
    d = np.abs(ref.astype(np.float64) - other.astype(np.float64))
    if not d.size:
        return {"max_abs": float("nan"), "mean_abs": float("nan")}
    return {"max_abs": float(d.max()), "mean_abs": float(d.mean())}


def export_bundle(checkpoint: str | Path, out: str | Path, options: ExportOptions | None = None) -> ExportResult:
    opts = options or ExportOptions()
    checkpoint, out = Path(checkpoint), Path(out)
    bad_precisions = [p for p in opts.precisions if p not in PRECISIONS]
    if bad_precisions or "fp32" not in opts.precisions:
        raise ExportError(f"--precision must include fp32 and be among {', '.join(PRECISIONS)}; got "
                          f"{', '.join(opts.precisions)}")
    if opts.ship and not set(opts.ship) <= set(opts.precisions):
        raise ExportError(f"--ship {','.join(opts.ship)} must be among the exported precisions "
                          f"{','.join(opts.precisions)}")
    if opts.static_batch < 0:
        raise ExportError(f"--static-batch must be >= 1, got {opts.static_batch}")
    if opts.static_batch:
        opts = dataclasses.replace(opts, trt_batch=(opts.static_batch,) * 3)
    if not (1 <= opts.trt_batch[0] <= opts.trt_batch[1] <= opts.trt_batch[2]):
        raise ExportError(f"--batch min,opt,max must satisfy 1 <= min <= opt <= max, got {opts.trt_batch}")
    _check_output_folder(out, opts.force)
    try:
        model, cfg = _load(checkpoint)
    except CheckpointError as err:
        raise ExportError(str(err)) from err
    notes: list[str] = []
    merged = prepare_for_export(model)
    if merged:
        notes.append(f"merged {merged} LoRA layers into the backbone")
    pre, scale = model.preprocess, LabelScale.from_dict(cfg["label_scale"])
    seed = int(cfg["train"].get("seed", 0))

    # Real images for every check: the run's test images (never used for calibration); the SRCC
    # recorded is on those alone. A model trained on everything has no test split: its numerical
    # checks use its own images and the manifest carries no SRCC of its own (see --model-card).
    check_paths, check_mos = _dataset_images(cfg, checkpoint, ("test",), opts.check_count, seed)
    if not check_paths:
        check_paths, _ = _dataset_images(cfg, checkpoint, ("val", "train"), opts.check_count, seed)
        check_mos = []
    check_frames, _ = _load_frames(check_paths, pre)
    if len(check_frames) == 0:
        notes.append("the checkpoint's dataset is not reachable: checks use random frames")
        check_frames = np.random.default_rng(seed).integers(0, 256, (8, pre.height, pre.width, 3), dtype=np.uint8)
        check_mos = []

    folded, fold_report = fold_head(model.head, opts.prune)
    with torch.no_grad():
        measure_on(folded, model.head, model.embed(torch.from_numpy(check_frames)).float(), fold_report)
        reference = scale.to_mos(model(torch.from_numpy(check_frames)).numpy().astype(np.float64))
    graph = ScoringGraph(model, folded, scale, opts.float_input).eval()

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        result = _write(tmp, graph, model, cfg, checkpoint, opts, pre, scale, seed, check_frames, check_mos,
                        reference, fold_report, notes)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.bundle = out
    return result


def _example(frames: np.ndarray, graph: ScoringGraph) -> torch.Tensor:
    x = torch.from_numpy(frames[:2])
    return graph.normalize(x) if graph.float_input else x


def _write(tmp: Path, graph: ScoringGraph, model: Any, cfg: dict[str, Any], checkpoint: Path,
           opts: ExportOptions, pre: Any, scale: LabelScale, seed: int, check_frames: np.ndarray,
           check_mos: list[float], reference: np.ndarray, fold_report: Any, notes: list[str]) -> ExportResult:
    from edgeiqa.export import quantize
    from edgeiqa.train.metrics import srcc

    def feed(frames: np.ndarray) -> np.ndarray:
        if not opts.float_input:
            return frames
        with torch.no_grad():
            return graph.normalize(torch.from_numpy(frames)).numpy()

    models: list[dict[str, Any]] = []
    fp32 = tmp / "model.fp32.onnx"
    data_file = export_onnx(graph, _example(check_frames, graph), fp32, opts.opset, opts.static_batch)
    fp32_scores = run_onnx(fp32, feed(check_frames), static_batch=opts.static_batch)
    entry = {"file": fp32.name, "format": "onnx", "precision": "fp32", "ops": graph_ops(fp32),
             "error_vs_pytorch": _score_error(reference, fp32_scores)}
    if data_file:
        entry["data_file"] = data_file.name
    models.append(entry)

    calib_frames = None
    if {"int8", "int8-cpu"} & set(opts.precisions):
        calib_frames = _calibration_frames(opts, cfg, checkpoint, pre, seed, notes)
    for precision in opts.precisions:
        if precision == "fp32":
            continue
        dst = tmp / f"model.{precision}.onnx"
        if precision == "fp16":
            quantize.to_fp16(fp32, dst)
        elif precision in ("int8", "int8-cpu"):
            quantize.to_int8_qdq(fp32, dst, feed(calib_frames), "tensorrt" if precision == "int8" else "cpu")
        else:
            quantize.to_int8_dynamic(fp32, dst)
        scores = run_onnx(dst, feed(check_frames), static_batch=opts.static_batch)
        models.append({"file": dst.name, "format": "onnx", "precision": precision,
                       "quantization": {"int8": "static QDQ, symmetric int8 activations and per-channel weights, "
                                                "float biases and head (TensorRT explicit quantisation)",
                                        "int8-cpu": "static QDQ, uint8 activations, int8 per-channel weights, "
                                                    "float head (ONNX Runtime x86; not for TensorRT)",
                                        "int8-dynamic": "dynamic (ONNX Runtime, per-channel weights)"}.get(precision),
                       "error_vs_fp32": _score_error(fp32_scores, scores),
                       "rank_agreement_vs_fp32": srcc(scores, fp32_scores) if len(scores) >= MIN_RANK_IMAGES
                       else None,
                       "srcc_test_sample": srcc(scores, np.asarray(check_mos)) if len(check_mos) >= 3 else None})
    if len(check_mos) >= 3:
        models[0]["srcc_test_sample"] = srcc(fp32_scores, np.asarray(check_mos))

    if opts.check:
        enforce(models, fold_report.to_dict(), scale.hi - scale.lo)
    trt_error = None
    if opts.trt:
        trt_error = _build_engines(tmp, models, opts, pre)
    if opts.triton:
        from edgeiqa.export.triton import write_triton_repository

        name = "edgeiqa_" + "".join(c if c.isalnum() else "_" for c in str(cfg["train"]["backbone"]))
        write_triton_repository(Path(opts.triton), name, fp32, pre.height, pre.width, opts.trt_batch[2],
                                opts.float_input)
        notes.append(f"Triton repository: {Path(opts.triton) / name}")

    if opts.ship:
        for m in [m for m in models if m["format"] == "onnx" and m["precision"] not in opts.ship]:
            models.remove(m)
            for name in (m["file"], m.get("data_file")):
                if name:
                    (tmp / name).unlink()
        notes.append(f"shipped precisions: {', '.join(opts.ship)} (the others were built for the checks only)")
    files = {f.name: sha256_file(f) for f in sorted(tmp.iterdir()) if f.is_file() and f.name != MANIFEST}
    head_cfg = cfg["head"]
    manifest = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source_checkpoint": str(checkpoint),
        "model": {"backbone": cfg["backbone"], "head": head_cfg, "regime": cfg["regime"]},
        "input": {"name": INPUT_NAME, "dtype": "float32" if opts.float_input else "uint8",
                  "layout": "NCHW" if opts.float_input else "NHWC", "height": pre.height, "width": pre.width,
                  "channels": 3, "color": "RGB", "resize": pre.resize, "interpolation": pre.interpolation,
                  "normalization_baked": not opts.float_input, "mean": list(pre.mean), "std": list(pre.std),
                  "batch": opts.static_batch or "dynamic"},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch"]},
        "score": {"scale": scale.to_dict(), "higher_is_better": True,
                  "note": "the graph outputs the MOS scale directly: mos = lo + t * (hi - lo) is baked in"},
        "metrics": cfg.get("metrics", {}),
        "check_images": {"split": "test" if check_mos else "train/val (no test split)", "n": int(len(check_frames)),
                         "note": "srcc_test_sample: SRCC of each model on these test images of the checkpoint's "
                                 "own split; absent when the checkpoint has no test split"},
        "trained_on": opts.model_card or {},
        "fold": fold_report.to_dict(),
        "models": models,
        "files": files,
        "tools": _tool_versions(),
        "notes": notes,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return ExportResult(tmp, manifest, trt_error, notes)


def _calibration_frames(opts: ExportOptions, cfg: dict[str, Any], checkpoint: Path, pre: Any, seed: int,
                        notes: list[str]) -> np.ndarray:
    if opts.calib:
        paths = find_images([opts.calib])
        if len(paths) > opts.calib_count:
            paths = [paths[i] for i in sorted(np.random.default_rng(seed).choice(len(paths), opts.calib_count,
                                                                                  replace=False))]
        source = opts.calib
    else:
        paths, _ = _dataset_images(cfg, checkpoint, ("train",), opts.calib_count, seed)
        source = "a sample of the training split"
    frames, bad = _load_frames(paths, pre)
    if bad:
        notes.append(f"calibration: skipped {len(bad)} unreadable images, e.g. {bad[0]}")
    if len(frames) < MIN_CALIBRATION_IMAGES:
        raise ExportError(f"int8 calibration needs at least {MIN_CALIBRATION_IMAGES} readable images; {source} "
                          f"gave {len(frames)} ({len(bad)} unreadable). Pass --calib DIR with more images")
    notes.append(f"int8 calibrated on {len(frames)} images from {source}")
    return frames


def _build_engines(tmp: Path, models: list[dict[str, Any]], opts: ExportOptions, pre: Any) -> str | None:
    from edgeiqa.export.tensorrt_build import build_engine, tensorrt_available

    ok, reason = tensorrt_available()
    if not ok:
        return reason
    for m in list(models):
        if m["format"] != "onnx" or m["precision"] in ("int8-dynamic", "int8-cpu"):  # not TensorRT graphs
            continue
        try:
            models.append(build_engine(tmp / m["file"], tmp, m["precision"], pre.height, pre.width, opts.trt_batch,
                                       float_input=opts.float_input, tf32=opts.tf32,
                                       version_compatible=opts.trt_version_compatible))
        except (RuntimeError, BackendUnavailableError) as err:
            return f"TensorRT build of {m['file']} failed: {err}"
    return None
