"""`edgeiqa protocol`: the seeds x heads x datasets grid behind the paper's tables."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from edgeiqa.runtime.errors import EdgeIQAError
from edgeiqa.train.config import add_config_arguments, config_from_args
from edgeiqa.train.registry import UnknownNameError

_PER_RUN = frozenset({"dataset", "head", "out", "data_root"})  # set per run by the grid


def _csv_list(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def main_protocol(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="edgeiqa protocol", description="Train every (dataset, head, seed) and write one table "
        "(protocol.md / .csv / .json) of test SRCC and PLCC, mean and median over seeds.")
    p.add_argument("--datasets", required=True, help="NAME=ROOT,... (or NAME,... with --data-root)")
    p.add_argument("--data-root", default="", help="root for a single dataset")
    p.add_argument("--heads", default="relu,sigmoid,gated,select")
    p.add_argument("--seeds", default="8,19,25")
    p.add_argument("--folds", type=int, default=0,
                   help="K-fold cross-validation (K >= 2): folds seeded by --seed, saved under OUT/folds, "
                        "checkpoint chosen on an inner validation split; --seeds is then ignored")
    p.add_argument("--cross", default="", help="A:B,... evaluate models trained on A on all of B")
    p.add_argument("--out", required=True)
    p.add_argument("--config", help="YAML/JSON of training options shared by every run")
    add_config_arguments(p, exclude=_PER_RUN)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    datasets: dict[str, str] = {}
    for item in _csv_list(args.datasets):
        name, _, root = item.partition("=")
        datasets[name] = root or args.data_root
        if not datasets[name]:
            print(f"edgeiqa protocol: no root for {name}: use {name}=DIR or --data-root", file=sys.stderr)
            return 2
    cross = [tuple(c.split(":", 1)) for c in _csv_list(args.cross)]
    try:
        from edgeiqa.train.protocol import run_protocol

        base = config_from_args(argparse.Namespace(**{k: v for k, v in vars(args).items() if k != "out"}))
        t0 = time.perf_counter()
        runs = run_protocol(base, datasets, _csv_list(args.heads), [int(s) for s in _csv_list(args.seeds)],
                            Path(args.out), cross, folds=args.folds)  # type: ignore[arg-type]
    except (EdgeIQAError, UnknownNameError, FileNotFoundError, ValueError) as err:
        print(f"edgeiqa protocol: {err}", file=sys.stderr)
        return 1
    print((Path(args.out) / "protocol.md").read_text())
    print(f"{len(runs)} runs in {time.perf_counter() - t0:.1f}s -> {args.out}/protocol.md, .csv, .json")
    return 0
