"""`edgeiqa quantize`: add fp16 or int8 graphs to a bundle from its fp32 graph - no checkpoint, no torch.

A bundle carries what its maker chose to ship; the graph a given machine wants may not be there
(the default model ships fp32, fp16 and the TensorRT int8 graph, not the CPU int8 flavours, whose
release measurement put them 1.3-1.9 MOS points from fp32 on average). Every reduced precision is
made from the fp32 ONNX graph by ONNX Runtime's own converters (export/quantize.py), so whoever
holds the bundle can make it, calibrated on their own camera's photos, which is also the
calibration that fits their frames best.

The new bundle is the source plus the new graphs. Each graph is measured against fp32 on frames
that did not calibrate it (held-out photos from --calib, then the bundle's reference frames) and
gets the manifest entry `edgeiqa export` writes (export/precision_entry.py), its scores on the
reference frames (so `edgeiqa verify` checks it on other machines), and `"auto_pick": false`
unless asked otherwise: `Scorer.load` keeps running what the maker measured, and the new graph
runs when named (`--precision int8-cpu`). RGB bundles only: a camera (NV12 / I420) variant is
derived from the quantised RGB bundle afterwards (`edgeiqa derive`), as export composes it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from edgeiqa.export.precision_entry import INT8_FLAVOURS, REDUCED_PRECISIONS, not_checked_here, reduced_entry
from edgeiqa.export.staged_folder import staged_folder
from edgeiqa.runtime import cpu_class
from edgeiqa.runtime.bundle import MANIFEST, Bundle, load_bundle, sha256_file
from edgeiqa.runtime.errors import EdgeIQAError
from edgeiqa.runtime.preprocess import find_images
from edgeiqa.runtime.reference import SCORES_FILE, load_reference

MIN_CALIBRATION_IMAGES = 8  # what `edgeiqa export` requires too
MIN_RANK_IMAGES = 20  # below this a Spearman between precisions is noise


class QuantizeError(EdgeIQAError, ValueError):
    """The bundle, the precisions or the calibration photos cannot make the graphs asked for."""


def _check_request(source: Bundle, out: Path, precisions: tuple[str, ...], force: bool) -> None:
    unknown = [p for p in precisions if p not in REDUCED_PRECISIONS]
    if unknown or not precisions:
        raise QuantizeError(f"unknown precision(s) {', '.join(unknown) or '(none given)'}; "
                            f"choose from {', '.join(REDUCED_PRECISIONS)}")
    spec = source.input_spec
    if spec.is_yuv or spec.float_input:
        raise QuantizeError(f"{source.path} takes {'YUV planes' if spec.is_yuv else 'float input'}: quantise the "
                            "RGB bundle it was made from, then `edgeiqa derive` the camera variant")
    if not source.find("onnx", "fp32"):
        raise QuantizeError(f"{source.path} has no fp32 ONNX graph to quantise from")
    if out.resolve() == source.path.resolve():
        raise QuantizeError("--out must be a new folder: the source bundle stays as it was")
    if out.exists() and not force:
        raise QuantizeError(f"{out} exists; pass --force to replace it")


def _frames(source: Bundle, calib: Path, calib_count: int, check_count: int, seed: int
            ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(calibration frames, held-out check frames, unreadable files) from the photos under `calib`,
    through the runtime's own preprocessing of this bundle's input."""
    paths = find_images([str(calib)])
    if not paths:
        raise QuantizeError(f"no images under {calib}")
    order = np.random.default_rng(seed).permutation(len(paths))
    spec = source.input_spec
    frames, bad = [], []
    for i in order[:calib_count + check_count]:
        try:
            frames.append(spec.load(paths[i]))
        except (EdgeIQAError, OSError, ValueError) as err:  # a corrupt photo is skipped and named
            bad.append(str(err))
    if not frames:
        raise QuantizeError(f"none of the {len(paths)} images under {calib} could be read, e.g. {bad[0]}")
    stack = np.stack(frames)
    return stack[:calib_count], stack[calib_count:], bad


def _score(folder: Path, precision: str, frames: np.ndarray) -> np.ndarray:
    from edgeiqa.runtime.scorer import Scorer

    with Scorer.load(folder, backend="onnxruntime", device="cpu", precision=precision) as scorer:
        return scorer.score_array(frames)


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Hashes of every file beside the manifest, then the manifest (the C header mirrors it)."""
    from edgeiqa.runtime.c_header import HEADER_FILE, c_header

    if (folder / HEADER_FILE).is_file():
        (folder / HEADER_FILE).write_text(c_header(manifest))
    manifest["files"] = {f.name: sha256_file(f) for f in sorted(folder.iterdir()) if f.is_file() and f.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def quantize_bundle(bundle: str | Path, out: str | Path, precisions: tuple[str, ...], calib: str | Path,
                    calib_count: int = 64, check_count: int = 64, seed: int = 0, auto_pick: bool = False,
                    force: bool = False, log: Any = print) -> dict[str, Any]:
    """Write `out`: `bundle` plus a graph per precision, each measured against fp32; returns its manifest."""
    from edgeiqa.export.quantize import write_precision  # onnxruntime.quantization: only when asked

    source = load_bundle(bundle)  # every file's sha256 checked
    out, precisions = Path(out), tuple(dict.fromkeys(precisions))
    _check_request(source, out, tuple(precisions), force)
    log(f"reading up to {calib_count} calibration and {check_count} check photos from {calib}")
    calib_frames, check_frames, bad = _frames(source, Path(calib), calib_count, check_count, seed)
    if set(INT8_FLAVOURS) & set(precisions) and len(calib_frames) < MIN_CALIBRATION_IMAGES:
        raise QuantizeError(f"int8 calibration needs at least {MIN_CALIBRATION_IMAGES} readable images; {calib} "
                            f"gave {len(calib_frames)} ({len(bad)} unreadable)")
    reference = load_reference(source)
    measure = np.concatenate([check_frames, reference.frames]) if len(check_frames) else reference.frames
    (fp32,) = source.find("onnx", "fp32")
    with staged_folder(out) as tmp:
        for name in [MANIFEST, *source.manifest["files"]]:
            shutil.copy2(source.path / name, tmp / name)
        manifest = json.loads(json.dumps(source.manifest))
        kept = [m for m in manifest["models"] if m["precision"] not in precisions]
        manifest["models"] = kept + [{"file": f"model.{p}.onnx", "format": "onnx", "precision": p}
                                     for p in precisions]
        for p in precisions:
            log(f"  {p}: from {fp32.file}")
            (tmp / f"model.{p}.onnx").unlink(missing_ok=True)
            write_precision(p, tmp / fp32.file, tmp / f"model.{p}.onnx", calib_frames)
        _write_manifest(tmp, manifest)  # the new graphs hashed: the runtime loads them to measure them

        fp32_scores = _score(tmp, "fp32", measure)
        scores_meta = json.loads((tmp / SCORES_FILE).read_text())
        notes = list(manifest.get("notes", []))
        for p in precisions:
            scores = _score(tmp, p, measure)
            entry = reduced_entry(f"model.{p}.onnx", p, fp32_scores, scores, MIN_RANK_IMAGES)
            entry["made_by"] = {"command": "edgeiqa quantize", "calibration": str(calib),
                                "calibration_images": int(len(calib_frames)),
                                "measured_on": f"{len(check_frames)} held-out photos + {len(reference.frames)} "
                                               "reference frames"}
            if not auto_pick:
                entry["auto_pick"] = False
                entry["auto_pick_note"] = (f"added by `edgeiqa quantize` (mean / max |score - fp32| "
                                           f"{entry['error_vs_fp32']['mean_abs']:.2f} / "
                                           f"{entry['error_vs_fp32']['max_abs']:.2f} on {len(measure)} frames); "
                                           f"runs when named: --precision {p}")
            manifest["models"] = [entry if m["precision"] == p else m for m in manifest["models"]]
            # the reference frames are the tail of `measure`: their scores are already here
            scores_meta["scores"][p] = [float(x) for x in scores[len(measure) - len(reference.frames):]]
            if not cpu_class.exact_on(p, cpu_class.detect().cpu_class):
                notes.append(not_checked_here(p))
            log(f"  {p}: mean / max |score - fp32| {entry['error_vs_fp32']['mean_abs']:.3f} / "
                f"{entry['error_vs_fp32']['max_abs']:.3f} on {len(measure)} frames")
        (tmp / SCORES_FILE).write_text(json.dumps(scores_meta, indent=1) + "\n")
        if bad:
            notes.append(f"quantize: skipped {len(bad)} unreadable calibration images, e.g. {bad[0]}")
        manifest["notes"] = notes
        manifest["quantized_from"] = {"bundle": str(source.path),
                                      "manifest_sha256": sha256_file(source.path / MANIFEST)}
        _write_manifest(tmp, manifest)
    return manifest
