"""Regenerate the CPU tables of docs/benchmarks.md.

    python benchmarks/cpu_tables.py --aliases resnet50,siglip2-b16-224,siglip2-so400m-512 --out benchmarks/results

For each backbone: a random-init checkpoint (the pretrained weights' architecture and FLOPs,
with the paper's gated head), exported to fp32 / int8 QDQ / int8-dynamic ONNX, then
`edgeiqa bench` with the PyTorch eager baseline measured in the same process. Also counts FLOPs
per image and measures the machine's fp32 matmul peak, so each row's distance to the physical
floor is a number.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from edgeiqa.export.exporter import export_bundle
from edgeiqa.export.options import ExportOptions, GraphOptions
from edgeiqa.runtime.bench import BenchConfig, make_jpegs
from edgeiqa.runtime.bench_cli import format_table, run_bench, write_plot
from edgeiqa.train.build import build_model
from edgeiqa.train.checkpoint import save_checkpoint
from edgeiqa.train.config import TrainConfig
from edgeiqa.train.data.records import LabelScale

# Per backbone: precisions to export, batches to time, end-to-end rows or not. Sized so the
# whole script fits in ~20 minutes on 2 cores (so400m-512 is ~0.4 TFLOP per image).
PLAN = {
    "resnet50": (("fp32", "int8", "int8-dynamic"), (1, 8), True),
    "siglip2-b16-224": (("fp32", "int8", "int8-dynamic"), (1, 8), True),
    "siglip2-so400m-512": (("fp32", "int8-dynamic"), (1,), False),
}


def random_checkpoint(alias: str, out: Path) -> Path:
    cfg = TrainConfig(backbone=alias, head="gated", regime="frozen", out=str(out), dataset="none", data_root="")
    model = build_model(cfg).eval()
    save_checkpoint(out, model, cfg, model.preprocess, LabelScale(0.0, 100.0), model.head.describe(),
                    {"note": "random init: for speed measurements only"})
    return out


def flops_per_image(alias: str) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(TrainConfig(backbone=alias, head="gated")).eval().requires_grad_(False)
    pre = model.preprocess
    x = torch.randint(0, 256, (1, pre.height, pre.width, 3), dtype=torch.uint8)
    # No torch.no_grad(): the counter's module tracker trips on attention pooling under it.
    with FlopCounterMode(display=False) as counter:
        model(x)
    return float(counter.get_total_flops())


def matmul_peak_gflops(n: int = 2048, reps: int = 10) -> float:
    """Best-of fp32 GEMM rate through PyTorch's BLAS: the machine's practical compute ceiling."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aliases", default=",".join(PLAN))
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--work", default="/tmp/edgeiqa-bench")
    ap.add_argument("--iters", type=int, default=6)
    args = ap.parse_args()
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    calib = make_jpegs(work / "calib", 16, (640, 480), seed=1)[0].parent
    peak = matmul_peak_gflops()
    summary_path = out / "cpu_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {"models": {}}
    summary.pop("matmul_peak_gflops", None)  # each model keeps the peak of the run that timed it
    print(f"fp32 matmul peak: {peak:.1f} GFLOP/s", flush=True)
    for alias in args.aliases.split(","):
        precisions, batches, e2e = PLAN.get(alias, (("fp32", "int8-dynamic"), (1, 8), True))
        ckpt = random_checkpoint(alias, work / alias / "ckpt")
        t0 = time.perf_counter()
        res = export_bundle(ckpt, work / alias / "bundle", ExportOptions(
            graphs=GraphOptions(precisions, calib=str(calib), calib_count=16), force=True))
        export_s = time.perf_counter() - t0
        sizes = {f.name: f.stat().st_size for f in (work / alias / "bundle").iterdir()}
        cfg = BenchConfig(batches, warmup=1, iters=args.iters if e2e else 3, min_seconds=0.0, end_to_end=e2e,
                          e2e_images=16)
        result = run_bench(str(work / alias / "bundle"), ["onnxruntime"], list(precisions), cfg, baseline="torch",
                           checkpoint=str(ckpt))
        flops = flops_per_image(alias)
        result.update(alias=alias, flops_per_image=flops, matmul_peak_gflops=peak, export_seconds=export_s,
                      file_sizes=sizes, errors_vs_fp32={m["precision"]: m.get("error_vs_fp32")
                                                        for m in res.manifest["models"]})
        (out / f"cpu_{alias}.json").write_text(json.dumps(result, indent=1))
        write_plot(result, out / f"cpu_{alias}.png")
        floor_ms = flops / (peak * 1e9) * 1e3
        summary["models"][alias] = {"flops_per_image": flops, "floor_ms_per_image": floor_ms,
                                    "matmul_peak_gflops": peak}
        print(f"\n== {alias}: {flops / 1e9:.1f} GFLOP/image, floor {floor_ms:.1f} ms/image at {peak:.0f} GFLOP/s; "
              f"export {export_s:.0f}s", flush=True)
        print(format_table(result), flush=True)
        best = max((r for r in result["rows"] if not r["error"] and r["mode"] == "model"),
                   key=lambda r: r["throughput"])
        print(f"best model-only: {best['backend']} {best['precision']} batch {best['batch']}: "
              f"{1e3 / best['throughput']:.1f} ms/image (floor / measured = "
              f"{floor_ms * best['throughput'] / 1e3:.2f})",
              flush=True)
        np.random.seed(0)
        summary_path.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
