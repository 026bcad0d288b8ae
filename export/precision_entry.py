"""What the manifest records about a reduced-precision graph, wherever the graph was made.

`edgeiqa export` (from a checkpoint) and `edgeiqa quantize` (from a bundle's fp32 graph) write
the same entry, so the runtime, `edgeiqa verify` and the release checks read one format: the
precision, how it was quantised, its error against fp32 on check frames, and the CPU that measured
it (int8-cpu saturates on x86 without VNNI, so an error measured there is that CPU's, not the
graph's). Kept free of torch: `edgeiqa quantize` runs where only onnx and onnxruntime are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from edgeiqa.runtime import cpu_class

INT8_FLAVOURS = {"int8": "tensorrt", "int8-cpu": "cpu", "int8-cpu-avx2": "cpu-avx2"}  # precision -> quantiser
REDUCED_PRECISIONS = ("fp16", *INT8_FLAVOURS, "int8-dynamic")
QUANTIZATION_NOTES = {
    "int8": "static QDQ, symmetric int8 activations and per-channel weights, float biases and head "
            "(TensorRT explicit quantisation)",
    "int8-cpu": "static QDQ, uint8 activations, int8 per-channel weights, float head (ONNX Runtime on x86 with "
                "VNNI/AMX and ARM64; saturates on x86 without VNNI; not for TensorRT)",
    "int8-cpu-avx2": "static QDQ, uint8 activations, 7-bit (reduce_range) int8 per-channel weights, float head "
                     "(ONNX Runtime on any CPU, x86 without VNNI included; not for TensorRT)",
    "int8-dynamic": "dynamic (ONNX Runtime, per-channel weights)",
}


def score_error(ref: np.ndarray, other: np.ndarray) -> dict[str, float]:
    d = np.abs(np.asarray(ref, np.float64) - np.asarray(other, np.float64))
    if not d.size:
        return {"max_abs": float("nan"), "mean_abs": float("nan")}
    return {"max_abs": float(d.max()), "mean_abs": float(d.mean())}


def rank_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two score vectors (continuous scores: ties are not expected)."""
    ra = np.argsort(np.argsort(np.asarray(a, np.float64))).astype(np.float64)
    rb = np.argsort(np.argsort(np.asarray(b, np.float64))).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


def cpu_check(precision: str, error: dict[str, float], rank: float | None, n: int) -> dict[str, Any]:
    """One CPU a graph was measured on: its class, whether the kernels there are exact for this
    precision, and the error against fp32 it measured (the manifest keeps a list of these)."""
    cpu = cpu_class.detect()
    return {**cpu.to_dict(), "exact_kernels": cpu_class.exact_on(precision, cpu.cpu_class), "images": n,
            "error_vs_fp32": error, "rank_agreement_vs_fp32": rank}


def not_checked_here(precision: str) -> str:
    cpu = cpu_class.detect()
    return (f"{precision} NOT CHECKED on this CPU ({cpu.model}; {cpu_class.DESCRIPTIONS[cpu.cpu_class]}): "
            f"its ONNX Runtime kernels saturate here, so the error recorded is this CPU's, not the graph's. "
            f"The runtime never picks {precision} on this CPU class; check it on a VNNI, AMX or ARM64 machine "
            f"with `edgeiqa verify BUNDLE PHOTOS`, and score here with int8-cpu-avx2 or fp32.")


def reduced_entry(file: str, precision: str, fp32_scores: np.ndarray, scores: np.ndarray,
                  min_rank_images: int) -> dict[str, Any]:
    """The manifest entry of one reduced-precision graph, measured against fp32 on the same frames."""
    error = score_error(fp32_scores, scores)
    rank = rank_agreement(scores, fp32_scores) if len(scores) >= min_rank_images else None
    return {"file": file, "format": "onnx", "precision": precision, "quantization": QUANTIZATION_NOTES.get(precision),
            "error_vs_fp32": error, "rank_agreement_vs_fp32": rank,
            "checked_on": [cpu_check(precision, error, rank, len(scores))]}
