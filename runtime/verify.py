"""`edgeiqa verify`: does this machine score the bundle's reference frames as the exporter did?

Every graph (or the named ones) on the chosen backend scores the bundle's reference frames
(runtime/reference.py); each is compared with the fp32 scores recorded at export, against the
tolerance of its precision (runtime/tolerances.py, the export checks' table). On a CPU whose
kernels saturate for a graph (int8-cpu on x86 without VNNI: runtime/cpu_class.py) that graph is
reported as such and fails the run only when it was asked for by name: the runtime never picks it
there. Exit codes: 0 every graph within tolerance, 1 one past it, 2 nothing could run.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from edgeiqa.runtime import cpu_class
from edgeiqa.runtime.bundle import MANIFEST, load_bundle
from edgeiqa.runtime.errors import EdgeIQAError
from edgeiqa.runtime.reference import load_reference
from edgeiqa.runtime.tolerances import TOLERANCES


@dataclass
class VerifyRow:
    file: str
    backend: str
    precision: str
    status: str  # "pass" | "FAIL" | "saturates here" | "error"
    max_abs: float = float("nan")
    mean_abs: float = float("nan")
    tolerance_max: float = float("nan")
    tolerance_mean: float = float("nan")
    exact_kernels: bool = True
    counts: bool = True  # whether this row decides the exit code
    error: str | None = None


def _jobs(bundle: Any, backend: str, precisions: list[str] | None) -> list[tuple[str, Any]]:
    onnx = [("onnxruntime", m) for m in bundle.find("onnx")]
    engines = [("tensorrt", m) for m in bundle.find("tensorrt")]
    if backend == "auto":
        from edgeiqa.runtime.backends import tensorrt_backend

        jobs = onnx + (engines if engines and tensorrt_backend.available() else [])
    else:
        jobs = onnx if backend == "onnxruntime" else engines
    return [(b, m) for b, m in jobs if precisions is None or m.precision in precisions]


def verify_bundle(path: str | Path, backend: str = "auto", precisions: list[str] | None = None,
                  device: str = "auto", threads: int = 0) -> tuple[list[VerifyRow], dict[str, Any]]:
    """One row per graph or engine run; the CPU it ran on."""
    from edgeiqa.runtime.precision_choice import runs_on_gpu
    from edgeiqa.runtime.scorer import Scorer

    bundle = load_bundle(path)
    ref = load_reference(bundle)
    if "fp32" not in ref.scores:
        raise EdgeIQAError(f"{bundle.path}: reference.json has no fp32 scores to compare with; re-export")
    want = np.asarray(ref.scores["fp32"], np.float64)
    scale = bundle.manifest["score"]["scale"]
    span = float(scale["hi"]) - float(scale["lo"])
    cpu = cpu_class.detect()
    rows = []
    for be, entry in _jobs(bundle, backend, precisions):
        tmax, tmean = (t * span for t in TOLERANCES.get(entry.precision, TOLERANCES["int8"]))
        on_cpu = be == "onnxruntime" and not runs_on_gpu(device)
        exact = not on_cpu or cpu_class.exact_on(entry.precision, cpu.cpu_class)
        row = VerifyRow(entry.file, be, entry.precision, "error", tolerance_max=tmax, tolerance_mean=tmean,
                        exact_kernels=exact, counts=exact or precisions is not None)
        try:
            with warnings.catch_warnings():  # a saturating graph is reported in its row, not warned about
                warnings.simplefilter("ignore", RuntimeWarning)
                scorer = Scorer.load(bundle.path, backend=be, device=device, precision=entry.precision,  # type: ignore
                                     threads=threads, verify=False)
            with scorer:
                if scorer.backend.entry.file != entry.file:  # e.g. an engine for another GPU
                    raise EdgeIQAError(f"the backend chose {scorer.backend.entry.file}")
                got = scorer.score_array(ref.frames).astype(np.float64)
        except (EdgeIQAError, RuntimeError, ValueError, OSError) as err:
            row.error = f"{type(err).__name__}: {err}"
            rows.append(row)
            continue
        d = np.abs(got - want)
        row.max_abs, row.mean_abs = float(d.max()), float(d.mean())
        within = row.max_abs <= tmax and row.mean_abs <= tmean
        row.status = "pass" if within else ("saturates here" if not exact else "FAIL")
        rows.append(row)
    return rows, cpu.to_dict()


def exit_code(rows: list[VerifyRow]) -> int:
    ran = [r for r in rows if r.error is None]
    if not ran or any(r.error and r.counts for r in rows):
        return 2
    return 1 if any(r.status != "pass" and r.counts for r in ran) else 0


def format_rows(rows: list[VerifyRow], cpu: dict[str, Any], count: int) -> str:
    lines = [f"{'graph':<34} {'backend':<12} {'max':>7} {'mean':>7} {'tolerance':>15}  status"]
    for r in rows:
        if r.error:
            lines.append(f"{r.file:<34} {r.backend:<12} {'-':>7} {'-':>7} {'-':>15}  error: {r.error}")
            continue
        note = "" if r.exact_kernels else " (kernels saturate on this CPU; never picked here)"
        lines.append(f"{r.file:<34} {r.backend:<12} {r.max_abs:>7.3f} {r.mean_abs:>7.3f} "
                     f"{r.tolerance_max:>7.2f}/{r.tolerance_mean:<7.2f}  {r.status}{note}")
    lines.append(f"{count} reference frames against the fp32 scores recorded at export (MOS points); CPU: "
                 f"{cpu['model']} ({cpu['class']})")
    return "\n".join(lines)


def record(path: str | Path, rows: list[VerifyRow], cpu: dict[str, Any], count: int,
           emulated: str | None = None) -> None:
    """Append this run to each graph's `checked_on` list in the manifest (not a hashed file)."""
    manifest_path = load_bundle(path, verify=False).path / MANIFEST
    m = json.loads(manifest_path.read_text())
    by_file = {e["file"]: e for e in m["models"]}
    for r in rows:
        if r.error is None and r.file in by_file:
            check = {**cpu, "exact_kernels": r.exact_kernels, "images": count, "frames": "reference",
                     "error_vs_fp32": {"max_abs": r.max_abs, "mean_abs": r.mean_abs}, "status": r.status}
            if emulated:
                check["emulated"] = emulated
            by_file[r.file].setdefault("checked_on", []).append(check)
    manifest_path.write_text(json.dumps(m, indent=2) + "\n")


def rows_json(rows: list[VerifyRow], cpu: dict[str, Any]) -> str:
    return json.dumps({"cpu": cpu, "rows": [asdict(r) for r in rows], "exit_code": exit_code(rows)}, indent=1)
