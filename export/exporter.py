"""Checkpoint -> bundle: merge LoRA, fold the head, bake preprocessing, write and check ONNX
(fp32 / fp16 / int8), optionally build TensorRT engines and a Triton repository, then write the
manifest. Everything is written to a temporary folder that replaces OUT only at the end, so a
failed export never leaves a half-written bundle behind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from edgeiqa.export.checks import enforce
from edgeiqa.export.fold import fold_head, measure_on
from edgeiqa.export.graph import ScoringGraph, prepare_for_export
from edgeiqa.export.onnx_export import export_onnx, graph_ops, run_onnx
from edgeiqa.export.options import ExportOptions, TensorRTOptions
from edgeiqa.export.precision_entry import INT8_FLAVOURS, not_checked_here, reduced_entry, score_error
from edgeiqa.export.staged_folder import staged_folder
from edgeiqa.export.yuv_input import graph_front
from edgeiqa.runtime import cpu_class
from edgeiqa.runtime.bundle import (
    ATTRIBUTES_NAME,
    CPU_ONLY_PRECISIONS,
    MANIFEST,
    OUTPUT_NAME,
    PRECISIONS,
    SCHEMA,
    SCHEMA_VERSION,
    sha256_file,
)
from edgeiqa.runtime.errors import BackendUnavailableError, EdgeIQAError
from edgeiqa.runtime.input_spec import InputSpec, InputSpecError
from edgeiqa.runtime.pipeline import prefetch_batches
from edgeiqa.runtime.preprocess import find_images
from edgeiqa.train.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_config
from edgeiqa.train.colour_stats import NAMES as COLOUR_NAMES
from edgeiqa.train.data.records import LabelScale
from edgeiqa.train.metrics import srcc
from edgeiqa.train.registry import UnknownNameError

from edgeiqa import __version__

MIN_CALIBRATION_IMAGES = 8
MIN_RANK_IMAGES = 20  # below this a Spearman between precisions is noise (one swap in 5 images: 0.9)


class ExportError(EdgeIQAError):
    pass


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


def _load_frames(paths: list[Path], load: Callable[[Any], np.ndarray], item: tuple[int, ...]
                 ) -> tuple[np.ndarray, list[str]]:
    """Graph inputs of the readable images (through the one frame loader), and why the others failed."""
    frames, bad = [], []
    for _, loaded in prefetch_batches(paths, load, 32):
        frames += [f for f in loaded if isinstance(f, np.ndarray)]
        bad += [str(f) for f in loaded if not isinstance(f, np.ndarray)]
    return (np.stack(frames) if frames else np.zeros((0, *item), np.uint8)), bad


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


def _checked(opts: ExportOptions) -> ExportOptions:
    """The options with every flag combination no export can honour refused up front (before a
    checkpoint is even read), and a static batch carried into the TensorRT profile."""
    g = opts.graphs
    bad_precisions = [p for p in g.precisions if p not in PRECISIONS]
    if bad_precisions or "fp32" not in g.precisions:
        raise ExportError(f"--precision must include fp32 and be among {', '.join(PRECISIONS)}; got "
                          f"{', '.join(g.precisions)}")
    if g.ship and not set(g.ship) <= set(g.precisions):
        raise ExportError(f"--ship {','.join(g.ship)} must be among the exported precisions {','.join(g.precisions)}")
    n = opts.input.static_batch
    if n < 0:
        raise ExportError(f"--static-batch must be >= 1, got {n}")
    if n:
        opts = dataclasses.replace(opts, tensorrt=dataclasses.replace(opts.tensorrt, batch=(n, n, n)))
    lo, mid, hi = opts.tensorrt.batch
    if not 1 <= lo <= mid <= hi:
        raise ExportError(f"--batch min,opt,max must satisfy 1 <= min <= opt <= max, got {opts.tensorrt.batch}")
    try:
        opts.input.check()
    except InputSpecError as err:
        raise ExportError(str(err)) from err
    return opts


def export_bundle(checkpoint: str | Path, out: str | Path, options: ExportOptions | None = None) -> ExportResult:
    opts = _checked(options or ExportOptions())
    checkpoint, out = Path(checkpoint), Path(out)
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
    spec = opts.input.spec(pre.height, pre.width, pre.mean, pre.std, pre.resize, pre.interpolation)

    # Real images for every check: the run's test images (never used for calibration); the SRCC
    # recorded is on those alone. A model trained on everything has no test split: its numerical
    # checks use its own images and the manifest carries no SRCC of its own (see --model-card).
    check_paths, check_mos = _dataset_images(cfg, checkpoint, ("test",), opts.checks.count, seed)
    if not check_paths:
        check_paths, _ = _dataset_images(cfg, checkpoint, ("val", "train"), opts.checks.count, seed)
        check_mos = []
    check_frames, _ = _load_frames(check_paths, pre.load, (pre.height, pre.width, 3))
    if len(check_frames) == 0:
        notes.append("the checkpoint's dataset is not reachable: checks use random frames")
        check_frames = np.random.default_rng(seed).integers(0, 256, (8, pre.height, pre.width, 3), dtype=np.uint8)
        check_paths, check_mos = [], []
    front = graph_front(spec)
    check_inputs = check_frames  # what the graph takes, from the same images
    if front is not None:
        shape = spec.loaded_shape
        check_inputs = (_load_frames(check_paths, spec.load, shape)[0] if check_paths else
                        np.random.default_rng(seed).integers(0, 256, (8, *shape), dtype=np.uint8))

    folded, fold_report = fold_head(model.head, opts.graphs.prune)
    graph = ScoringGraph(model, folded, scale, spec.float_input, front).eval()
    with torch.no_grad():
        measure_on(folded, model.head, model.embed(torch.from_numpy(check_frames)).float(), fold_report)
        # The unfolded head on the graph's own input path (camera front included): the reference.
        x = torch.from_numpy(check_inputs)
        emb = graph.embed(graph.normalize(x) if spec.float_input else x)
        reference = scale.to_mos(model.head(emb.float()).numpy().astype(np.float64))

    with staged_folder(out) as tmp:
        job = ExportJob(tmp, checkpoint, cfg, opts, graph, scale, pre, spec, seed, check_inputs,
                        check_mos, reference, fold_report.to_dict(), notes)
        for step in (write_onnx, write_reduced_precisions, check_tolerances, write_reference_frames, write_engines,
                     write_triton, drop_unshipped, write_manifest):
            step(job)
    return ExportResult(out, job.manifest, job.trt_error, notes)


@dataclass
class ExportJob:
    """What every artefact step reads, and what the steps add (models, TensorRT outcome, manifest)."""

    folder: Path  # the temporary bundle folder
    checkpoint: Path
    cfg: dict[str, Any]
    opts: ExportOptions
    graph: ScoringGraph
    scale: LabelScale
    pre: Any  # the checkpoint's recorded PreprocessConfig
    spec: InputSpec  # what the graph takes; spec.load turns an image into one item of it
    seed: int
    check_frames: np.ndarray  # graph inputs (RGB frames or YUV planes) of the check images
    check_mos: list[float]
    reference: np.ndarray  # PyTorch scores of check_frames
    fold: dict[str, Any]
    notes: list[str]
    models: list[dict[str, Any]] = field(default_factory=list)
    fp32_scores: np.ndarray | None = None
    trt_error: str | None = None
    reference_block: dict[str, Any] | None = None  # the manifest's "reference": frames for `edgeiqa verify`
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def fp32(self) -> Path:
        return self.folder / "model.fp32.onnx"

    def feed(self, frames: np.ndarray) -> np.ndarray:
        """Frames as the graph takes them (uint8 NHWC, or normalised float NCHW with --float-input)."""
        if not self.spec.float_input:
            return frames
        with torch.no_grad():
            return self.graph.normalize(torch.from_numpy(frames)).numpy()

    def run(self, onnx_file: Path) -> np.ndarray:
        return run_onnx(onnx_file, self.feed(self.check_frames), static_batch=self.opts.input.static_batch)


def write_onnx(job: ExportJob) -> None:
    """The fp32 graph every other artefact derives from, and its error against PyTorch."""
    x = torch.from_numpy(job.check_frames[:2])
    example = job.graph.normalize(x) if job.spec.float_input else x
    data_file = export_onnx(job.graph, example, job.fp32, job.opts.graphs.opset, job.opts.input.static_batch)
    job.fp32_scores = job.run(job.fp32)
    entry = {"file": job.fp32.name, "format": "onnx", "precision": "fp32", "ops": graph_ops(job.fp32),
             "error_vs_pytorch": score_error(job.reference, job.fp32_scores)}
    if data_file:
        entry["data_file"] = data_file.name
    if len(job.check_mos) >= 3:
        entry["srcc_test_sample"] = srcc(job.fp32_scores, np.asarray(job.check_mos))
    job.models.append(entry)


def write_reduced_precisions(job: ExportJob) -> None:
    """fp16 and the int8 flavours, each measured against fp32 on the check images."""
    from edgeiqa.export import quantize

    opts, fp32_scores = job.opts, job.fp32_scores
    assert fp32_scores is not None, "write_onnx runs first"
    calib = None
    if set(INT8_FLAVOURS) & set(opts.graphs.precisions):
        calib = job.feed(_calibration_frames(job))
    for precision in [p for p in opts.graphs.precisions if p != "fp32"]:
        dst = job.folder / f"model.{precision}.onnx"
        quantize.write_precision(precision, job.fp32, dst, calib, opts.input.static_batch)
        scores = job.run(dst)
        entry = reduced_entry(dst.name, precision, fp32_scores, scores, MIN_RANK_IMAGES)
        entry["srcc_test_sample"] = srcc(scores, np.asarray(job.check_mos)) if len(job.check_mos) >= 3 else None
        job.models.append(entry)
        if not cpu_class.exact_on(precision, cpu_class.detect().cpu_class):
            job.notes.append(not_checked_here(precision))


def write_reference_frames(job: ExportJob) -> None:
    """The bundle's reference frames and every graph's scores on them (runtime/reference.py)."""
    from edgeiqa.export.reference_frames import reference_frames
    from edgeiqa.runtime.reference import write_reference

    frames, names = reference_frames(job.spec.load)
    n = job.opts.input.static_batch
    scores = {m["precision"]: run_onnx(job.folder / m["file"], job.feed(frames), static_batch=n)
              for m in job.models if m["format"] == "onnx"}
    job.reference_block = write_reference(job.folder, frames, names, scores, cpu_class.detect().to_dict())


def check_tolerances(job: ExportJob) -> None:
    if job.opts.checks.enforce:
        enforce(job.models, job.fold, job.scale.hi - job.scale.lo)


def write_engines(job: ExportJob) -> None:
    """TensorRT engines for the TensorRT-legal graphs; a failure is reported, never fatal."""
    if job.opts.tensorrt.build:
        job.trt_error = _build_engines(job.folder, job.models, job.opts.tensorrt, job.spec.item_shape)


def write_triton(job: ExportJob) -> None:
    if not job.opts.triton:
        return
    from edgeiqa.export.triton import write_triton_repository

    name = "edgeiqa_" + "".join(c if c.isalnum() else "_" for c in str(job.cfg["train"]["backbone"]))
    n_attributes = len(output_block(job.graph).get("attributes", {}).get("names", []))
    write_triton_repository(Path(job.opts.triton), name, job.fp32, job.spec.item_shape, job.opts.tensorrt.batch[2],
                            job.spec.float_input, n_attributes)
    job.notes.append(f"Triton repository: {Path(job.opts.triton) / name}")


def drop_unshipped(job: ExportJob) -> None:
    """Precisions built only for the checks leave the bundle (--ship)."""
    if not job.opts.graphs.ship:
        return
    for m in [m for m in job.models if m["format"] == "onnx" and m["precision"] not in job.opts.graphs.ship]:
        job.models.remove(m)
        for name in (m["file"], m.get("data_file")):
            if name:
                (job.folder / name).unlink()
    job.notes.append(f"shipped precisions: {', '.join(job.opts.graphs.ship)} (the others were built for the checks "
                     "only)")


def write_manifest(job: ExportJob) -> None:
    """Last: the sha256 of every file written before it, and everything the runtime needs to know."""
    from edgeiqa.runtime.c_header import HEADER_FILE, c_header

    opts, cfg = job.opts, job.cfg
    job.manifest = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source_checkpoint": str(job.checkpoint),
        "model": {"backbone": cfg["backbone"], "head": cfg["head"], "regime": cfg["regime"],
                  **({"colour_stats": {"features": list(COLOUR_NAMES), "source": "train/colour_stats.py"}}
                     if job.graph.colour is not None else {})},
        "input": job.spec.manifest_block(),
        "output": output_block(job.graph, str(cfg["train"].get("fault_kinds", ""))),
        "score": {"scale": job.scale.to_dict(), "higher_is_better": True,
                  "note": "the graph outputs the MOS scale directly: mos = lo + t * (hi - lo) is baked in",
                  **thresholds_block(opts.card.categories, opts.card.score_percentiles)},
        "metrics": cfg.get("metrics", {}),
        "check_images": {"split": "test" if job.check_mos else "train/val (no test split)",
                         "n": int(len(job.check_frames)),
                         "note": "srcc_test_sample: SRCC of each model on these test images of the checkpoint's "
                                 "own split; absent when the checkpoint has no test split"},
        "trained_on": opts.card.model_card or {},
        "fold": job.fold,
        "models": job.models,
        **({"reference": job.reference_block} if job.reference_block else {}),
        "files": {},
        "tools": _tool_versions(),
        "notes": job.notes,
    }
    (job.folder / HEADER_FILE).write_text(c_header(job.manifest))  # firmware's copy of the contract
    job.manifest["files"] = {f.name: sha256_file(f) for f in sorted(job.folder.iterdir())
                             if f.is_file() and f.name != MANIFEST}
    (job.folder / MANIFEST).write_text(json.dumps(job.manifest, indent=2) + "\n")


def output_block(graph: ScoringGraph, fault_kinds: str = "") -> dict[str, Any]:
    """`score` [N]; with an attribute head, `attributes` [N, K] and what each column means for
    the fault kinds it was trained on (`fault_kinds`, empty: every kind)."""
    block: dict[str, Any] = {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch"]}
    if graph.has_attributes:
        from edgeiqa.train.data.camera_faults import ATTRIBUTE_NAMES

        block["attributes"] = {"name": ATTRIBUTES_NAME, "dtype": "float32", "shape": ["batch", len(ATTRIBUTE_NAMES)],
                               "names": list(ATTRIBUTE_NAMES), "meaning": attribute_meaning(fault_kinds)}
    return block


ATTRIBUTE_MEANING = {
    "blur": "0 sharp .. 1 the worst rendered motion blur, defocus or binned read-out",
    "exposure": "exposure error in stops, signed: < 0 dark, > 0 bright",
    "noise": "0 clean .. 1 the worst rendered low-light sensor noise or share of defective photosites",
    "compression": "0 none .. 1 the worst rendered JPEG compression or bit-depth loss",
    "colour_cast": "0 right .. 1 the worst rendered {colour}",
    "broken": "probability that the frame is not a photo (flat, noise, lens cap, torn or partial read-out)",
}


def attribute_meaning(fault_kinds: str) -> dict[str, str]:
    """ATTRIBUTE_MEANING with the colour-cast column naming only the colour kinds trained: a
    manifest must not promise that a bundle trained on white balance alone sees saturation. Each
    kind is described at its worst rendered level, read from camera_faults.py's own constants."""
    from edgeiqa.train.data.camera_faults import FAULTS, SATURATION_GAIN, SATURATION_KEPT, WB_CAST_STOPS

    worst = {"white_balance": f"white-balance error (red/blue gains {WB_CAST_STOPS[-1]:g} stops apart)",
             "oversaturation": f"over-saturation (chroma x{SATURATION_GAIN[-1]:g})",
             "desaturation": f"washed-out colour ({SATURATION_KEPT[-1]:.0%} of the chroma kept)"}
    trained = [k.strip() for k in fault_kinds.split(",") if k.strip()] or list(FAULTS)
    colour = [text for k, text in worst.items() if k in trained]
    return {**ATTRIBUTE_MEANING,
            "colour_cast": ATTRIBUTE_MEANING["colour_cast"].format(colour=" or ".join(colour) or "colour error")}


def thresholds_block(categories: tuple[float, ...], percentiles: dict[str, Any] | None) -> dict[str, Any]:
    from edgeiqa.runtime.thresholds import CATEGORY_NAMES

    out: dict[str, Any] = {}
    if categories:
        if len(categories) != len(CATEGORY_NAMES) - 1 or list(categories) != sorted(categories):
            raise ExportError(f"categories take {len(CATEGORY_NAMES) - 1} increasing MOS boundaries "
                              f"({'|'.join(CATEGORY_NAMES)}), got {list(categories)}")
        out["categories"] = {"names": list(CATEGORY_NAMES), "boundaries": [float(c) for c in categories]}
    if percentiles:
        out["percentiles"] = percentiles
    return out


def _calibration_frames(job: ExportJob) -> np.ndarray:
    opts = job.opts.graphs
    if opts.calib:
        paths = find_images([opts.calib])
        if len(paths) > opts.calib_count:
            paths = [paths[i] for i in sorted(np.random.default_rng(job.seed).choice(len(paths), opts.calib_count,
                                                                                      replace=False))]
        source = opts.calib
    else:
        paths, _ = _dataset_images(job.cfg, job.checkpoint, ("train",), opts.calib_count, job.seed)
        source = "a sample of the training split"
    frames, bad = _load_frames(paths, job.spec.load, job.spec.loaded_shape)
    notes = job.notes
    if bad:
        notes.append(f"calibration: skipped {len(bad)} unreadable images, e.g. {bad[0]}")
    if len(frames) < MIN_CALIBRATION_IMAGES:
        raise ExportError(f"int8 calibration needs at least {MIN_CALIBRATION_IMAGES} readable images; {source} "
                          f"gave {len(frames)} ({len(bad)} unreadable). Pass --calib DIR with more images")
    notes.append(f"int8 calibrated on {len(frames)} images from {source}")
    return frames


def _build_engines(tmp: Path, models: list[dict[str, Any]], opts: TensorRTOptions, shape: tuple[int, ...]
                   ) -> str | None:
    from edgeiqa.export.tensorrt_build import build_engine, tensorrt_available

    ok, reason = tensorrt_available()
    if not ok:
        return reason
    for m in list(models):
        if m["format"] != "onnx" or m["precision"] in CPU_ONLY_PRECISIONS:  # not TensorRT graphs
            continue
        try:
            models.append(build_engine(tmp / m["file"], tmp, m["precision"], shape, opts.batch, tf32=opts.tf32,
                                       version_compatible=opts.version_compatible))
        except (RuntimeError, BackendUnavailableError) as err:
            return f"TensorRT build of {m['file']} failed: {err}"
    return None
