"""Export checks that can fail: each measured error has a stated tolerance.

Tolerances (edgeiqa.runtime.tolerances, shared with `edgeiqa verify`) are fractions of the bundle's
MOS range (0-100 for CLIVE/KonIQ), measured here on real check images against fp32 (fp32 against
PyTorch, the folded head against the trained one);
- and every lower precision must order the check images as fp32 does (Spearman floor): a model
  that ranks photos differently from the validated one must not ship silently.
A graph measured on a CPU whose ONNX Runtime kernels saturate for it (int8-cpu and int8-dynamic on
x86 without VNNI, runtime/cpu_class.py) is not held to these tolerances there: the error is the
CPU's, not the graph's, and the export notes say it was not checked.
`edgeiqa export --no-check` records the numbers without enforcing them.
"""

from __future__ import annotations

from typing import Any

from edgeiqa.runtime.errors import EdgeIQAError
from edgeiqa.runtime.tolerances import MIN_RANK_AGREEMENT, TOLERANCES

__all__ = ["MIN_RANK_AGREEMENT", "TOLERANCES", "enforce", "violations"]


class ExportCheckError(EdgeIQAError):
    """A measured export error exceeds its tolerance."""


def violations(manifest_models: list[dict[str, Any]], fold: dict[str, Any], mos_range: float) -> list[str]:
    """Every check that exceeds its tolerance, as a sentence naming the numbers."""
    out = []
    fmax, fmean = TOLERANCES["fold"]
    if fold.get("max_abs_diff_real") is not None and not fold.get("prune_eps"):
        if fold["max_abs_diff_real"] > fmax or fold["mean_abs_diff_real"] > fmean:
            out.append(f"folded head differs from the trained head by max {fold['max_abs_diff_real']:.2e} "
                       f"(tolerance {fmax:.0e} on the training scale)")
    for m in manifest_models:
        if any(not c.get("exact_kernels", True) for c in m.get("checked_on", [])):
            continue  # measured on a CPU whose kernels saturate for it: the export notes say so
        key = "error_vs_pytorch" if m["precision"] == "fp32" else "error_vs_fp32"
        err = m.get(key)
        if not err or m["precision"] not in TOLERANCES:
            continue
        tmax, tmean = (t * mos_range for t in TOLERANCES[m["precision"]])
        if err["max_abs"] > tmax or err["mean_abs"] > tmean:
            out.append(f"{m['file']}: {key.replace('_', ' ')} max {err['max_abs']:.4g} / mean {err['mean_abs']:.4g} "
                       f"exceeds {tmax:.4g} / {tmean:.4g} MOS points")
        rank, floor = m.get("rank_agreement_vs_fp32"), MIN_RANK_AGREEMENT.get(m["precision"])
        if rank is not None and floor is not None and rank < floor:
            out.append(f"{m['file']}: orders the check images differently from fp32 (Spearman {rank:.4f} < {floor})")
    return out


def enforce(manifest_models: list[dict[str, Any]], fold: dict[str, Any], mos_range: float) -> None:
    bad = violations(manifest_models, fold, mos_range)
    if bad:
        raise ExportCheckError("export checks failed (pass --no-check to write the bundle anyway):\n  "
                               + "\n  ".join(bad))
