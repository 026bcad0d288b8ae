"""Latency and throughput of a bundle: model-only and end-to-end, per backend / precision / batch.

Every row is measured in one process, side by side, so ratios between rows are meaningful on a
noisy shared machine; absolute numbers are the machine's. Inputs are fresh random frames (never
zeros, which some kernels shortcut), rotated among several sets; timing waits for the backend's
own synchronisation.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from edgeiqa.runtime.errors import EdgeIQAError


@dataclass
class BenchRow:
    backend: str
    precision: str
    batch: int
    mode: str  # "model" (pre-decoded uint8 frames) or "end_to_end" (JPEG files through the pipeline)
    throughput: float = float("nan")  # images / second
    p50_ms: float = float("nan")  # per-batch latency, wall clock (the same clock for every row)
    p90_ms: float = float("nan")
    p99_ms: float = float("nan")
    mean_ms: float = float("nan")
    iterations: int = 0
    device_p50_ms: float | None = None  # kernel time (CUDA events after the input copy, before the copy back)
    peak_rss_mb: float = float("nan")  # peak resident memory of the process that ran only this backend
    ratio_to_eager: float | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# A percentile is reported only from enough samples to have one: p90 needs 10 (the largest of 10 is
# the 90th), p99 needs 100; below that the field is NaN ("not measured"), never the maximum of 5.
MIN_SAMPLES = {"p50_ms": 1, "p90_ms": 10, "p99_ms": 100}


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50/p90/p99 and mean in milliseconds (linear interpolation between order statistics);
    a tail percentile without the samples to support it is NaN."""
    if not samples_s:
        return {"p50_ms": float("nan"), "p90_ms": float("nan"), "p99_ms": float("nan"), "mean_ms": float("nan")}
    ms = np.asarray(samples_s, np.float64) * 1e3
    out = {k: float(np.percentile(ms, int(k[1:3]))) if len(ms) >= MIN_SAMPLES[k] else float("nan")
           for k in MIN_SAMPLES}
    return {**out, "mean_ms": float(ms.mean())}


def peak_rss_mb() -> float:
    """Peak resident memory of this process image, in MB.

    Linux's VmHWM belongs to the address space, so it starts afresh in a spawned child; the
    getrusage maximum (the fallback elsewhere) survives fork + exec and would report the parent's.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def time_calls(fn: Callable[[np.ndarray], Any], inputs: list[np.ndarray], warmup: int, iters: int,
               min_seconds: float, sync: Callable[[], None],
               device_time: Callable[[], float | None] = lambda: None,
               max_seconds: float = float("inf")) -> tuple[list[float], list[float]]:
    """Per-call seconds on the wall clock (call + synchronisation), and the backend's own device
    time per call where it keeps one (CUDA events for TensorRT; empty otherwise).

    Every row of a bench is ranked by the wall clock, so rows of different backends compare like
    with like; device time is an extra column, never a substitute.
    """
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    sync()
    wall: list[float] = []
    device: list[float] = []
    start = time.perf_counter()
    i = 0
    while i < iters or (time.perf_counter() - start < min_seconds and i < 50 * iters):
        if i >= 2 and time.perf_counter() - start > max_seconds:  # the row's budget: a slow backend stops early
            break
        x = inputs[i % len(inputs)]
        t0 = time.perf_counter()
        fn(x)
        sync()
        wall.append(time.perf_counter() - t0)
        d = device_time()
        if d is not None:
            device.append(d)
        i += 1
    return wall, device


def random_inputs(batch: int, shape: tuple[int, ...], sets: int = 4, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 256, (batch, *shape), dtype=np.uint8) for _ in range(sets)]


def make_jpegs(folder: Path, n: int, size: tuple[int, int] = (1024, 768), seed: int = 0) -> list[Path]:
    """Camera-like JPEGs: smooth random scenes plus sensor noise, at a typical photo size."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        low = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
        arr = np.clip(np.asarray(low, np.float32) + rng.normal(0, 6, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
        p = folder / f"frame_{i:04d}.jpg"
        Image.fromarray(arr).save(p, quality=90)
        paths.append(p)
    return paths


@dataclass
class BenchConfig:
    batches: tuple[int, ...] = (1, 8, 32)
    warmup: int = 3
    iters: int = 20
    min_seconds: float = 1.0
    end_to_end: bool = True
    e2e_images: int = 64
    images: str | None = None
    row_budget_s: float = 30.0  # each row stops timing after this (>= 2 calls), so a slow baseline ends

    def planned_rows(self, jobs: int) -> int:
        return jobs * len(self.batches) * (2 if self.end_to_end else 1)


def bench_scorer(scorer: Any, cfg: BenchConfig, jpegs: list[Path]) -> list[BenchRow]:
    rows = []
    shape = scorer.item_shape  # RGB frames at the model size, or a camera bundle's YUV planes
    be = scorer.backend
    for b in cfg.batches:
        row = BenchRow(be.name, be.precision, b, "model", details=be.describe())
        try:
            inputs = random_inputs(b, shape)
            for i in range(cfg.warmup):  # here, so that the CPU clock below sees the timed calls only
                scorer.score_array(inputs[i % len(inputs)])
            be.synchronize()
            cpu0 = time.process_time()
            times, device = time_calls(scorer.score_array, inputs, 0, cfg.iters, cfg.min_seconds, be.synchronize,
                                       lambda: getattr(be, "last_device_s", None), cfg.row_budget_s)
            cpu_s = time.process_time() - cpu0
            row.__dict__.update(percentiles(times), throughput=b / statistics.fmean(times), iterations=len(times))
            # CPU time of every thread of the process per image (ONNX Runtime's spin-waiting threads
            # count too): what the model takes from cores the pixels also need.
            row.details["cpu_ms_per_img"] = cpu_s / (len(times) * b) * 1e3
            if device:
                row.device_p50_ms = float(np.percentile(device, 50) * 1e3)
        except (EdgeIQAError, RuntimeError, ValueError, MemoryError) as err:
            row.error = f"{type(err).__name__}: {err}"
        row.peak_rss_mb = peak_rss_mb()
        rows.append(row)
        if cfg.end_to_end and jpegs:
            rows.append(bench_end_to_end(scorer, jpegs, b, cfg))
    return rows


def bench_end_to_end(scorer: Any, jpegs: list[Path], batch: int, cfg: BenchConfig) -> BenchRow:
    be = scorer.backend
    row = BenchRow(be.name, be.precision, batch, "end_to_end", details={**be.describe(), "images": len(jpegs)})
    try:
        list(scorer.iter_scores(jpegs[: max(batch, 2)], batch))  # warm-up (thread pool, caches)
        n_runs = max(1, min(3, cfg.iters // 5))
        per_batch: list[float] = []
        total_images, total_time = 0, 0.0
        start = time.perf_counter()
        for _ in range(n_runs):
            t0 = last = time.perf_counter()
            k = 0
            for k, _result in enumerate(scorer.iter_scores(jpegs, batch), start=1):
                if k % batch == 0 or k == len(jpegs):
                    now = time.perf_counter()
                    per_batch.append(now - last)
                    last = now
                    if len(per_batch) >= 2 and now - start > cfg.row_budget_s:
                        row.details["stopped_at_budget_s"] = cfg.row_budget_s
                        break
            total_time += time.perf_counter() - t0
            total_images += k  # the loop only stops at a batch boundary
            if "stopped_at_budget_s" in row.details:
                break
        row.__dict__.update(percentiles(per_batch), throughput=total_images / total_time, iterations=len(per_batch))
    except (EdgeIQAError, RuntimeError, ValueError, MemoryError) as err:
        row.error = f"{type(err).__name__}: {err}"
    row.peak_rss_mb = peak_rss_mb()
    return row


def machine_info() -> dict[str, Any]:
    from edgeiqa.runtime.cpu_class import detect

    cpu = detect()  # the one reader of the CPU's name and int8 class
    info: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(),
                            "processor": cpu.model, "int8_class": cpu.cpu_class, "cpu_count": os.cpu_count(),
                            "python": platform.python_version()}
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
        info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        pass
    for mod in ("numpy", "PIL", "torch", "tensorrt"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            pass
    try:
        from threadpoolctl import threadpool_info

        keys = ("internal_api", "num_threads", "architecture")
        info["blas"] = [{k: p.get(k) for k in keys} for p in threadpool_info()]
    except ImportError:
        pass
    for var in ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE"):
        if os.environ.get(var):
            info[var] = os.environ[var]
    return info


def jpeg_set(cfg: BenchConfig) -> tuple[list[Path], tempfile.TemporaryDirectory | None]:
    if not cfg.end_to_end:
        return [], None
    if cfg.images:
        from edgeiqa.runtime.preprocess import find_images

        return find_images([cfg.images])[: cfg.e2e_images], None
    tmp = tempfile.TemporaryDirectory(prefix="edgeiqa-bench-")
    return make_jpegs(Path(tmp.name), cfg.e2e_images), tmp


def merge_rounds(rounds: list[list[BenchRow]]) -> list[BenchRow]:
    """One row per (backend, precision, batch, mode): the median over rounds.

    On a shared machine the speed drifts by tens of percent over minutes; rows measured one after
    another can differ by that drift alone. Rounds interleave the backends (A B C, A B C, ...), so
    every row samples the same stretch of time and the medians compare like with like. Each row
    keeps its per-round throughputs (`details["round_throughputs"]`) so the spread is visible.
    """
    if len(rounds) == 1:
        return rounds[0]
    groups: dict[tuple[str, str, int, str], list[BenchRow]] = {}
    for rows in rounds:  # keyed, not zipped: a round whose process died has fewer rows
        for r in rows:
            groups.setdefault((r.backend, r.precision, r.batch, r.mode), []).append(r)
    med = statistics.median
    merged: list[BenchRow] = []
    for (backend, precision, batch, mode), same in groups.items():
        ok = [r for r in same if r.error is None]
        row = BenchRow(backend, precision, batch, mode, details=dict((ok or same)[0].details))
        row.peak_rss_mb = max(r.peak_rss_mb for r in same)
        if len(ok) < len(rounds):
            row.error = next((r.error for r in same if r.error), f"ran in {len(ok)} of {len(rounds)} rounds")
            merged.append(row)
            continue
        row.throughput = med(r.throughput for r in ok)
        for key in ("p50_ms", "p90_ms", "p99_ms", "mean_ms"):
            setattr(row, key, med(getattr(r, key) for r in ok))
        row.iterations = sum(r.iterations for r in ok)
        devices = [r.device_p50_ms for r in ok if r.device_p50_ms is not None]
        row.device_p50_ms = med(devices) if devices else None
        row.details["round_throughputs"] = [r.throughput for r in ok]
        merged.append(row)
    return merged


def add_ratios(rows: list[BenchRow]) -> None:
    """ratio_to_eager = throughput / PyTorch eager fp32 throughput at the same batch and mode."""
    base = {(r.batch, r.mode): r.throughput for r in rows if r.backend == "torch-eager" and r.precision == "fp32"
            and r.error is None}
    for r in rows:
        ref = base.get((r.batch, r.mode))
        if ref and r.error is None:
            r.ratio_to_eager = r.throughput / ref
