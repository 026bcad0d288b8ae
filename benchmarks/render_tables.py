"""Render benchmarks/results/cpu_*.json as the markdown tables of docs/benchmarks.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(result: dict) -> str:
    lines = ["| backend | precision | batch | mode | img/s | p50 ms | p90 ms | p99 ms | x eager fp32 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if r["error"]:
            lines.append(f"| {r['backend']} | {r['precision']} | {r['batch']} | {r['mode']} | error: "
                         f"{r['error'][:60]} | | | | |")
            continue
        ratio = f"{r['ratio_to_eager']:.2f}" if r["ratio_to_eager"] else "-"
        lines.append(f"| {r['backend']} | {r['precision']} | {r['batch']} | {r['mode']} | {r['throughput']:.1f} | "
                     f"{r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} | {ratio} |")
    return "\n".join(lines)


def model_sizes(file_sizes: dict[str, int]) -> dict[str, int]:
    """Bytes per ONNX model, its external weights (.onnx.data) included: a large graph keeps
    almost all of its size there, and the .onnx file alone would read as a few MB."""
    return {k: v + file_sizes.get(k + ".data", 0) for k, v in sorted(file_sizes.items()) if k.endswith(".onnx")}


def summary(result: dict) -> str:
    flops, peak = result["flops_per_image"], result["matmul_peak_gflops"]
    floor_ms = flops / (peak * 1e9) * 1e3
    rows = [r for r in result["rows"] if not r["error"] and r["mode"] == "model"]
    best = max(rows, key=lambda r: r["throughput"])
    sizes = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in model_sizes(result["file_sizes"]).items())
    errors = ", ".join(f"{k} max {v['max_abs']:.3f} / mean {v['mean_abs']:.3f}"
                       for k, v in result["errors_vs_fp32"].items() if v)
    return (f"{flops / 1e9:.1f} GFLOP per image (counted); fp32 floor at the {peak:.0f} GFLOP/s GEMM peak measured in "
            "this table's own run: "
            f"{floor_ms:.1f} ms/image. Best model-only row: {best['backend']} {best['precision']} at batch "
            f"{best['batch']}, {1e3 / best['throughput']:.1f} ms/image (floor / measured = "
            f"{floor_ms * best['throughput'] / 1e3:.2f}). Files: {sizes}. "
            f"Score error vs fp32 (MOS 0-100): {errors or '-'}. Export took {result['export_seconds']:.0f} s.")


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results")
    for path in sorted(folder.glob("cpu_*.json")):
        if path.name == "cpu_summary.json":
            continue
        result = json.loads(path.read_text())
        print(f"### {result['alias']} ({result['input']})\n\n{summary(result)}\n\n{table(result)}\n")


if __name__ == "__main__":
    main()
