"""GPU benchmark for one short lease (H100/H200 with PyTorch; TensorRT / onnxruntime-gpu rows
only where those libraries exist, e.g. on a Jetson or a workstation).

    python benchmarks/gpu_bench.py --out $OUT            # on the GPU box, via benchmarks/gpu.sh
    python benchmarks/gpu_bench.py --dry-run --out /tmp/x   # on a CPU: tiny models, same code path

Rows per backbone and batch: PyTorch eager fp32, bf16 and fp16 autocast, CUDA graph (fp16,
captured with torch.cuda.graphs) and torch.compile (fp16). Timing uses CUDA events around each
call after warm-up; inputs are fresh random uint8 frames rotated among several sets.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from edgeiqa.train.build import build_model
from edgeiqa.train.config import TrainConfig

BACKBONES = ("resnet50", "siglip2-b16-224", "siglip2-so400m-512")


def _timer(device: str) -> Callable[[Callable[[], Any]], float]:
    if device == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def cuda_time(fn: Callable[[], Any]) -> float:
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3

        return cuda_time

    def cpu_time(fn: Callable[[], Any]) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    return cpu_time


def measure(fn: Callable[[torch.Tensor], Any], inputs: list[torch.Tensor], device: str, warmup: int, iters: int
            ) -> list[float]:
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    if device == "cuda":
        torch.cuda.synchronize()
    timer = _timer(device)
    return [timer(functools.partial(fn, inputs[i % len(inputs)])) for i in range(iters)]


def row(backbone: str, variant: str, batch: int, times: list[float] | None, error: str | None = None
        ) -> dict[str, Any]:
    if not times:
        return {"backbone": backbone, "variant": variant, "batch": batch, "error": error}
    ms = np.asarray(times) * 1e3
    return {"backbone": backbone, "variant": variant, "batch": batch, "throughput": batch / float(np.mean(times)),
            "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean()), "iters": len(times)}


def bench_backbone(alias: str, batches: tuple[int, ...], device: str, warmup: int, iters: int,
                   image_size: int | None) -> list[dict[str, Any]]:
    model = build_model(TrainConfig(backbone=alias, head="gated", image_size=image_size or 0)).to(device).eval()
    pre = model.preprocess
    rows = []
    for b in batches:
        gen = torch.Generator().manual_seed(b)
        inputs = [torch.randint(1, 256, (b, pre.height, pre.width, 3), dtype=torch.uint8, generator=gen).to(device)
                  for _ in range(3)]
        variants: dict[str, Callable[[torch.Tensor], Any]] = {}

        variants["eager fp32"] = functools.partial(_eager, model, device, None)
        variants["eager bf16"] = functools.partial(_eager, model, device, torch.bfloat16)
        if device == "cuda":
            variants["eager fp16"] = functools.partial(_eager, model, device, torch.float16)
        for name, fn in variants.items():
            try:
                rows.append(row(alias, name, b, measure(fn, inputs, device, warmup, iters)))
            except (RuntimeError, torch.cuda.OutOfMemoryError) as err:
                rows.append(row(alias, name, b, None, str(err)[:200]))
        if device == "cuda":
            rows.append(_cuda_graph_row(model, alias, inputs, warmup, iters))
        rows.append(_compile_row(model, alias, inputs, device, warmup, iters))
    return rows


def _eager(model: torch.nn.Module, device: str, dtype: torch.dtype | None, x: torch.Tensor) -> Any:
    with torch.inference_mode(), torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
        return model(x)


def _cuda_graph_row(model: torch.nn.Module, alias: str, inputs: list[torch.Tensor], warmup: int, iters: int
                    ) -> dict[str, Any]:
    b = inputs[0].shape[0]
    try:
        static = inputs[0].clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
            for _ in range(3):
                model(static)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
            model(static)

        def replay(x: torch.Tensor) -> None:
            static.copy_(x)
            graph.replay()

        return row(alias, "cuda graph fp16", b, measure(replay, inputs, "cuda", warmup, iters))
    except RuntimeError as err:
        return row(alias, "cuda graph fp16", b, None, str(err)[:200])


def _compile_row(model: torch.nn.Module, alias: str, inputs: list[torch.Tensor], device: str, warmup: int,
                 iters: int) -> dict[str, Any]:
    b = inputs[0].shape[0]
    dtype = torch.float16 if device == "cuda" else torch.bfloat16
    name = f"torch.compile {'fp16' if device == 'cuda' else 'bf16'}"
    try:
        compiled = torch.compile(model, mode="max-autotune-no-cudagraphs" if device == "cuda" else "default")

        def fn(x: torch.Tensor) -> Any:
            with torch.inference_mode(), torch.autocast(device, dtype=dtype):
                return compiled(x)

        return row(alias, name, b, measure(fn, inputs, device, max(warmup, 3), iters))
    except Exception as err:  # noqa: BLE001 - inductor raises many types; the row records it
        return row(alias, name, b, None, f"{type(err).__name__}: {str(err)[:200]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="")
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny models: checks the script, not the GPU")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--iters", type=int, default=30)
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() and not args.dry_run else "cpu"
    if not args.dry_run and device != "cuda":
        print("no CUDA device: use --dry-run on a CPU", file=sys.stderr)
        return 1
    backbones = ("tiny-resnet", "tiny-vit") if args.dry_run else BACKBONES
    batches = tuple(int(b) for b in args.batches.split(","))
    info = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu (dry run)",
            "torch": torch.__version__, "cuda": torch.version.cuda, "dry_run": args.dry_run}
    for mod in ("tensorrt", "onnxruntime"):
        try:
            m = __import__(mod)
            info[mod] = m.__version__
            if mod == "onnxruntime":
                info["onnxruntime_providers"] = m.get_available_providers()
        except ImportError:
            info[mod] = None
    torch.backends.cudnn.benchmark = True
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for alias in backbones:
        rows += bench_backbone(alias, batches, device, warmup=5 if device == "cuda" else 1,
                               iters=args.iters if device == "cuda" else 3, image_size=32 if args.dry_run else None)
        print(f"{alias} done at {time.perf_counter() - t0:.0f}s", flush=True)
    result = {"machine": info, "rows": rows, "seconds": time.perf_counter() - t0}
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "gpu_bench.json").write_text(json.dumps(result, indent=1))
    eager = {(r["backbone"], r["batch"]): r["throughput"] for r in rows if r["variant"] == "eager fp32" and
             "throughput" in r}
    print(f"\n{info['device']}, torch {info['torch']}, TensorRT {info['tensorrt']}, onnxruntime {info['onnxruntime']}")
    print(f"{'backbone':<20} {'variant':<22} {'batch':>5} {'img/s':>10} {'p50 ms':>8} {'x eager':>8}")
    for r in rows:
        if "throughput" not in r:
            print(f"{r['backbone']:<20} {r['variant']:<22} {r['batch']:>5} error: {r['error'][:60]}")
            continue
        ratio = r["throughput"] / eager[(r["backbone"], r["batch"])] if (r["backbone"], r["batch"]) in eager else 0
        print(f"{r['backbone']:<20} {r['variant']:<22} {r['batch']:>5} {r['throughput']:>10.1f} {r['p50_ms']:>8.2f} "
              f"{ratio:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
