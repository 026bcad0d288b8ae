"""`edgeiqa bench`: the numbers a user needs to prove latency on their own hardware."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgeiqa.runtime.bench import BenchConfig, BenchRow, add_ratios, jpeg_set, machine_info, merge_rounds
from edgeiqa.runtime.cli_args import positive_ints
from edgeiqa.runtime.errors import EdgeIQAError


def _list(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def run_bench(bundle: str, backends: list[str], precisions: list[str], cfg: BenchConfig, threads: int = 0,
              baseline: str | None = None, checkpoint: str | None = None, device: str = "auto",
              isolate: bool = True, rounds: int = 1) -> dict[str, Any]:
    """Every (backend, precision) in turn, `rounds` times over (each row: the median over rounds);
    with `isolate` each in its own process (own peak memory)."""
    from edgeiqa.runtime.bench_isolated import BenchJob, run_isolated, run_job
    from edgeiqa.runtime.bundle import load_bundle

    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    b = load_bundle(bundle)
    jpegs, tmp = jpeg_set(cfg)
    jobs = []
    skipped: list[BenchRow] = []
    if baseline:
        ckpt = checkpoint or b.manifest.get("source_checkpoint", "")
        on_gpu = device.startswith("cuda")
        eager = ("fp32", "fp32-cl", "bf16") + (("fp16",) if on_gpu else ())
        bf16_why = None if on_gpu else bf16_missing()
        if bf16_why:
            eager = tuple(p for p in eager if p != "bf16")
            skipped = [BenchRow("torch-eager", "bf16", bs, "model", error=f"skipped: {bf16_why}") for bs in cfg.batches]
        jobs += [BenchJob(str(b.path), baseline, p, device, threads, ckpt) for p in eager]
    jobs += [BenchJob(str(b.path), be, p, device, threads) for be in backends for p in precisions]
    announce(jobs, cfg, rounds, skipped)
    per_round: list[list[BenchRow]] = []
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the camera-box install has no tqdm: one line per job instead
        tqdm = None
    steps = [(r, job) for r in range(rounds) for job in jobs]
    bar = tqdm(steps, desc="bench", unit="job", file=sys.stderr) if tqdm else steps
    try:
        for r, job in bar:
            if r == len(per_round):
                per_round.append([])
            if tqdm is None:
                print(f"bench: round {r + 1}/{rounds}: {job.backend} {job.precision}", file=sys.stderr, flush=True)
            else:
                bar.set_postfix_str(f"round {r + 1}: {job.backend} {job.precision}")
            per_round[r] += run_isolated(job, cfg, jpegs) if isolate else run_job(job, cfg, jpegs)
    finally:
        if tmp is not None:
            tmp.cleanup()
    rows = merge_rounds(per_round) + skipped
    add_ratios(rows)
    return {"bundle": str(b.path), "model": b.manifest.get("model"), "input": f"{b.height}x{b.width}",
            "machine": machine_info(), "threads": threads or "library default", "isolated": isolate,
            "rounds": rounds,
            "rows": [r.to_dict() for r in rows]}


def bf16_missing() -> str | None:
    """Why PyTorch's bf16 autocast cannot be timed fairly on this CPU, or None when it can: without
    bf16 instructions (AVX512-BF16, AMX-BF16, ARM BF16) every bf16 op is emulated, slower than fp32,
    and the row would measure the emulation for many minutes."""
    from edgeiqa.runtime.cpu_class import detect

    cpu = detect()
    if cpu.flags & {"avx512_bf16", "amx_bf16", "bf16"}:
        return None
    return f"this CPU ({cpu.model}) has no bf16 instructions (avx512_bf16, amx_bf16): autocast would emulate them"


def announce(jobs: list[Any], cfg: BenchConfig, rounds: int, skipped: list[BenchRow]) -> None:
    """The plan before the first row: what runs, how many rows, and the most it can take."""
    rows = cfg.planned_rows(len(jobs)) * rounds
    # each row: warm-up + timing up to its budget; plus a process start and model load per job
    most_s = rows * (cfg.row_budget_s + 5) + len(jobs) * rounds * 15
    names = ", ".join(f"{j.backend} {j.precision}" for j in jobs)
    print(f"bench plan: {len(jobs)} backends ({names}) x batch {','.join(map(str, cfg.batches))} x "
          f"{'model + end-to-end' if cfg.end_to_end else 'model only'} x {rounds} round(s) = {rows} rows; "
          f"each row stops at {cfg.row_budget_s:.0f} s, so at most about {most_s / 60:.0f} min",
          file=sys.stderr, flush=True)
    for row in skipped[:1]:
        print(f"bench: {row.backend} {row.precision} {row.error}", file=sys.stderr, flush=True)


def format_table(result: dict[str, Any]) -> str:
    """Wall-clock columns for every row; the device timer (CUDA events) as an extra column when any row has it."""
    device = any(r.get("device_p50_ms") for r in result["rows"])
    lines = [f"{'backend':<13} {'prec':<12} {'batch':>5} {'mode':<10} {'img/s':>9} {'p50 ms':>9} {'p90 ms':>9} "
             f"{'p99 ms':>9} {'x eager':>8} {'RSS MB':>7}" + (f" {'dev p50':>8}" if device else "")]
    for r in result["rows"]:
        if r["error"]:
            lines.append(f"{r['backend']:<13} {r['precision']:<12} {r['batch']:>5} {r['mode']:<10} error: {r['error']}")
            continue
        ratio = f"{r['ratio_to_eager']:.2f}" if r["ratio_to_eager"] else "-"
        dev = (f" {r['device_p50_ms']:>8.2f}" if r.get("device_p50_ms") else f" {'-':>8}") if device else ""
        lines.append(f"{r['backend']:<13} {r['precision']:<12} {r['batch']:>5} {r['mode']:<10} {r['throughput']:>9.2f} "
                     f"{r['p50_ms']:>9.2f} {r['p90_ms']:>9.2f} {r['p99_ms']:>9.2f} {ratio:>8} "
                     f"{r['peak_rss_mb']:>7.0f}{dev}")
    m = result["machine"]
    lines.append(f"machine: {m.get('processor')} x{m.get('cpu_count')}, onnxruntime {m.get('onnxruntime', '-')}, "
                 f"threads {result['threads']}; times are wall clock; RSS is the peak of "
                 + ("each backend's own process" if result.get("isolated") else "this one process, so far")
                 + (f"; each row is the median of {result['rounds']} interleaved rounds"
                    if result.get("rounds", 1) > 1 else ""))
    return "\n".join(lines)


def write_plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if not r["error"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    series: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        series.setdefault((r["backend"], r["precision"], r["mode"]), []).append(r)
    for (backend, precision, mode), rs in sorted(series.items()):
        rs = sorted(rs, key=lambda r: r["batch"])
        ax1.plot([r["batch"] for r in rs], [r["throughput"] for r in rs], marker="o",
                 linestyle="-" if mode == "model" else "--", label=f"{backend} {precision} {mode}")
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("batch")
    ax1.set_ylabel("images / s")
    ax1.set_title(f"throughput ({result['input']}, {result['machine'].get('processor', '')[:40]})", fontsize=9)
    ax1.legend(fontsize=7)
    b1 = [r for r in rows if r["batch"] == 1 and r["mode"] == "model"]
    labels = [f"{r['backend']}\n{r['precision']}" for r in b1]
    for i, r in enumerate(b1):
        ax2.plot([i, i, i], [r["p50_ms"], r["p90_ms"], r["p99_ms"]], marker="_", markersize=18, color="k")
        ax2.bar(i, r["mean_ms"], alpha=0.4)
    ax2.set_xticks(range(len(b1)))
    ax2.set_xticklabels(labels, fontsize=7)
    ax2.set_ylabel("ms per image (batch 1): bar mean, ticks p50/p90/p99")
    ax2.set_title("latency at batch 1, model only", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main_bench(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa bench", description="Latency p50/p90/p99 and throughput per backend, "
                                "precision and batch; model-only and end-to-end (JPEG decode + resize included).")
    p.add_argument("--bundle", required=True)
    p.add_argument("--backend", default="onnxruntime", help="comma list: onnxruntime,tensorrt")
    p.add_argument("--precision", default="fp32", help="comma list: fp32,fp16,int8,int8-cpu,int8-cpu-avx2,int8-dynamic")
    p.add_argument("--batch", type=positive_ints, default=(1, 8, 32), help="comma list, e.g. 1,8,32")
    p.add_argument("--images", default=None, help="JPEG folder for end-to-end rows (default: generated 1024x768)")
    p.add_argument("--e2e-images", type=int, default=64)
    p.add_argument("--no-end-to-end", action="store_true")
    p.add_argument("--baseline", choices=["torch"], default=None, help="PyTorch eager rows (needs the train extra)")
    p.add_argument("--checkpoint", default=None, help="for --baseline: default the bundle's source checkpoint")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--row-budget", type=float, default=30.0, metavar="SECONDS",
                   help="each row stops timing after this many seconds (at least 2 calls): a slow backend or "
                        "baseline ends in the time the plan announces")
    p.add_argument("--rounds", type=int, default=1,
                   help="run the backends in turn this many times; each row is the median over rounds "
                        "(use 3+ on a shared machine, whose speed drifts over minutes)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--in-process", action="store_true",
                   help="run every backend in this process (faster; peak memory then only grows row to row)")
    p.add_argument("--json", default=None, help="write every number here")
    p.add_argument("--plot", default=None, help="write a PNG plot here")
    args = p.parse_args(argv)
    cfg = BenchConfig(args.batch, args.warmup, args.iters, args.min_seconds,
                      not args.no_end_to_end, args.e2e_images, args.images, args.row_budget)
    try:
        result = run_bench(args.bundle, _list(args.backend), _list(args.precision), cfg, args.threads, args.baseline,
                           args.checkpoint, args.device, isolate=not args.in_process, rounds=args.rounds)
    except (EdgeIQAError, ValueError) as err:
        print(f"edgeiqa bench: {err}", file=sys.stderr)
        return 1
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.plot:
        write_plot(result, Path(args.plot))
    print(format_table(result))
    return 0
