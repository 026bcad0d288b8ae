"""The evaluation protocol: datasets x heads x seeds (or K folds), one table of mean and median.

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
from edgeiqa.train.data.splits import make_folds, save_split
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
    fold: int | None = None  # cross-validation: which fold was the test set
    val: dict[str, float] = dataclasses.field(default_factory=dict)
    best_epoch: int = -1


def _cross_eval(checkpoint: Path, name: str, root: str) -> dict[str, float]:
    from edgeiqa.train.predict import CheckpointPredictor

    ds = load_dataset(name, root)
    ds.require_complete()
    pred = CheckpointPredictor(checkpoint)
    scores = pred.predict([s.path for s in ds.samples], batch_size=32)
    return iqa_metrics(np.array([r.score for r in scores]), np.array([s.mos for s in ds.samples]))


def write_fold_splits(base: TrainConfig, dataset: str, root: str, folds: int, out: Path) -> list[Path]:
    """Seeded K folds of one dataset, one split.json per fold (reusable with --split-file)."""
    from edgeiqa.train.trainer import dataset_options

    ds = load_dataset(dataset, root, **dataset_options(dataclasses.replace(base, dataset=dataset)))
    paths = []
    for i, split in enumerate(make_folds(ds, folds, base.seed)):
        path = out / "folds" / dataset / f"fold{i}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_split(path, ds, split, base.seed)
        paths.append(path)
    return paths


def run_protocol(base: TrainConfig, datasets: dict[str, str], heads: list[str], seeds: list[int], out: Path,
                 cross: list[tuple[str, str]] | None = None, folds: int = 0) -> list[ProtocolRun]:
    """Seeds x heads x datasets; or, with folds >= 2, K-fold cross-validation (one seed, base.seed)
    where every head sees the same folds."""
    from edgeiqa.train.trainer import train

    out.mkdir(parents=True, exist_ok=True)
    runs: list[ProtocolRun] = []
    if folds:
        fold_files = {d: write_fold_splits(base, d, root, folds, out) for d, root in datasets.items()}
        grid = [(d, h, base.seed, i) for d in datasets for h in heads for i in range(folds)]
    else:
        grid = [(d, h, s, None) for d in datasets for h in heads for s in seeds]
    for dataset, head, seed, fold in tqdm(grid, desc="protocol"):
        name = f"{dataset}_{head}_s{seed}" + (f"_fold{fold}" if fold is not None else "")
        cfg = dataclasses.replace(base, dataset=dataset, data_root=datasets[dataset], head=head, seed=seed,
                                  out=str(out / "runs" / name), resume=False,
                                  split_file=str(fold_files[dataset][fold]) if fold is not None else base.split_file)
        t0 = time.perf_counter()
        res = train(cfg)
        cross_metrics = {b: _cross_eval(res.out, b, datasets[b]) for a, b in (cross or []) if a == dataset}
        runs.append(ProtocolRun(dataset, head, seed, res.test, cross_metrics, time.perf_counter() - t0, fold,
                                res.val, res.best_epoch))
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
        row: dict[str, Any] = {"dataset": dataset, "head": head, "seeds": [r.seed for r, _ in items],
                               "folds": [r.fold for r, _ in items if r.fold is not None]}
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
        w = csv.DictWriter(fh, fieldnames=cols + ["seeds", "folds"])
        w.writeheader()
        w.writerows({**r, "seeds": " ".join(map(str, r["seeds"])), "folds": " ".join(map(str, r["folds"]))}
                    for r in rows)
    (out / "protocol.md").write_text(markdown_table(rows))
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| dataset | head | SRCC mean | SRCC median | SRCC std | PLCC mean | PLCC median | runs |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['head']} | {r['srcc_mean']:.3f} | {r['srcc_median']:.3f} | "
              f"{r['srcc_std']:.3f} | {r['plcc_mean']:.3f} | {r['plcc_median']:.3f} | "
              f"{len(r['folds'])} folds |" if r.get("folds") else
              f"| {r['dataset']} | {r['head']} | {r['srcc_mean']:.3f} | {r['srcc_median']:.3f} | "
              f"{r['srcc_std']:.3f} | {r['plcc_mean']:.3f} | {r['plcc_median']:.3f} | {len(r['seeds'])} seeds |"
              for r in rows]
    return "\n".join(lines) + "\n"
