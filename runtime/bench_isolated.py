"""Each backend of a bench in its own fresh process, so its peak memory is its own.

A process's peak RSS only ever grows: measured in one process, every row after the PyTorch
baseline would report torch's peak. A spawned child (no fork: nothing inherited) loads one
backend, runs its rows and reports its own peak. The children run one after another, so rows
still share the machine's state as closely as one run allows.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from edgeiqa.runtime.bench import BenchConfig, BenchRow, bench_scorer, peak_rss_mb
from edgeiqa.runtime.errors import EdgeIQAError


@dataclass(frozen=True)
class BenchJob:
    bundle: str
    backend: str  # "onnxruntime" | "tensorrt" | a registered baseline ("torch")
    precision: str
    device: str = "auto"
    threads: int = 0
    checkpoint: str | None = None  # baselines run the bundle's source checkpoint


def run_job(job: BenchJob, cfg: BenchConfig, jpegs: list[Path]) -> list[BenchRow]:
    """One backend's rows, in this process (the child's entry point)."""
    from edgeiqa.runtime.bundle import load_bundle
    from edgeiqa.runtime.scorer import Scorer

    name = "torch-eager" if job.backend == "torch" else job.backend
    if job.threads:  # read by torch's and the BLAS thread pools when they start, in this fresh process
        os.environ["OMP_NUM_THREADS"] = str(job.threads)
    try:
        if job.backend in ("onnxruntime", "tensorrt"):
            scorer = Scorer.load(job.bundle, job.backend, job.device, job.precision, job.threads,  # type: ignore
                                 verify=False)
        else:
            from edgeiqa.runtime.baselines import load_baseline

            dev = "cuda" if job.device.startswith("cuda") else "cpu"
            backend = load_baseline(job.backend)(job.checkpoint, job.precision, dev)
            scorer = Scorer(load_bundle(job.bundle, verify=False), backend)
    except (EdgeIQAError, ValueError, RuntimeError, OSError) as err:
        return [BenchRow(name, job.precision, bs, "model", error=str(err)) for bs in cfg.batches]
    with scorer:
        rows = bench_scorer(scorer, cfg, jpegs)
    for r in rows:
        r.details["isolated_process"] = True
    return rows


def run_isolated(job: BenchJob, cfg: BenchConfig, jpegs: list[Path]) -> list[BenchRow]:
    """run_job in a fresh spawned process; a crashed child becomes error rows, not a crashed bench."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return pool.submit(run_job, job, cfg, jpegs).result()
        except BrokenProcessPool as err:
            name = "torch-eager" if job.backend == "torch" else job.backend
            return [BenchRow(name, job.precision, bs, "model", error=f"the bench process died: {err}")
                    for bs in cfg.batches]


__all__ = ["BenchJob", "peak_rss_mb", "run_isolated", "run_job"]
