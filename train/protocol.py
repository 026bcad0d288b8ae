"""The evaluation protocol: datasets x heads x seeds, one table of mean and median.

Every run uses train/val/test with the checkpoint chosen on val (PAPER.md lists the reference
code's flaws we do not copy). Cross-dataset pairs evaluate a model trained on A on all of B.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from edgeiqa.train.config import TrainConfig
from edgeiqa.train.data.registry import load_dataset
from edgeiqa.train.metrics import iqa_metrics
from tqdm.auto import tqdm


@dataclass
class ProtocolRun:
    dataset: str
    head: str
    seed: int
    test: dict[str, float]
    cross: dict[str, dict[str, float]]
    seconds: float


def _cross_eval(checkpoint: Path, name: str, root: str) -> dict[str, float]:
    from edgeiqa.train.predict import CheckpointPredictor

    ds = load_dataset(name, root)
    ds.require_complete()
    pred = CheckpointPredictor(checkpoint)
    scores = pred.predict([s.path for s in ds.samples], batch_size=32)
    return iqa_metrics(np.array([r.score for r in scores]), np.array([s.mos for s in ds.samples]))


def run_protocol(base: TrainConfig, datasets: dict[str, str], heads: list[str], seeds: list[int], out: Path,
                 cross: list[tuple[str, str]] | None = None) -> list[ProtocolRun]:
    from edgeiqa.train.trainer import train

    out.mkdir(parents=True, exist_ok=True)
    runs: list[ProtocolRun] = []
    grid = [(d, h, s) for d in datasets for h in heads for s in seeds]
    for dataset, head, seed in tqdm(grid, desc="protocol"):
        cfg = dataclasses.replace(base, dataset=dataset, data_root=datasets[dataset], head=head, seed=seed,
                                  out=str(out / "runs" / f"{dataset}_{head}_s{seed}"), resume=False)
        t0 = time.perf_counter()
        res = train(cfg)
        cross_metrics = {b: _cross_eval(res.out, b, datasets[b]) for a, b in (cross or []) if a == dataset}
        runs.append(ProtocolRun(dataset, head, seed, res.test, cross_metrics, time.perf_counter() - t0))
        write_table(runs, out)
    return runs


def summarise(runs: list[ProtocolRun]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    keys: dict[tuple[str, str], list[tuple[ProtocolRun, dict[str, float]]]] = {}
    for r in runs:
        keys.setdefault((r.dataset, r.head), []).append((r, r.test))
        for target, m in r.cross.items():
            keys.setdefault((f"{r.dataset}->{target}", r.head), []).append((r, m))
    for (dataset, head), items in keys.items():
        row: dict[str, Any] = {"dataset": dataset, "head": head, "seeds": [r.seed for r, _ in items]}
        for metric in ("srcc", "plcc"):
            vals = [m[metric] for _, m in items if metric in m]
            row[f"{metric}_mean"] = float(np.mean(vals)) if vals else float("nan")
            row[f"{metric}_median"] = float(statistics.median(vals)) if vals else float("nan")
            row[f"{metric}_std"] = float(np.std(vals)) if vals else float("nan")
        row["seconds"] = round(sum(r.seconds for r, _ in items), 1)
        rows.append(row)
    return rows


def write_table(runs: list[ProtocolRun], out: Path) -> list[dict[str, Any]]:
    rows = summarise(runs)
    (out / "protocol.json").write_text(json.dumps({"rows": rows, "runs": [dataclasses.asdict(r) for r in runs]},
                                                  indent=1))
    cols = ["dataset", "head", "srcc_mean", "srcc_median", "srcc_std", "plcc_mean", "plcc_median", "plcc_std",
            "seconds"]
    with open(out / "protocol.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols + ["seeds"])
        w.writeheader()
        w.writerows({**r, "seeds": " ".join(map(str, r["seeds"]))} for r in rows)
    (out / "protocol.md").write_text(markdown_table(rows))
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| dataset | head | SRCC mean | SRCC median | PLCC mean | PLCC median | seeds |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['head']} | {r['srcc_mean']:.3f} | {r['srcc_median']:.3f} | "
              f"{r['plcc_mean']:.3f} | {r['plcc_median']:.3f} | {len(r['seeds'])} |" for r in rows]
    return "\n".join(lines) + "\n"
