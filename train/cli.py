"""`edgeiqa train` and `edgeiqa predict`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from edgeiqa.runtime.errors import EdgeIQAError
from edgeiqa.runtime.preprocess import find_images
from edgeiqa.train.config import add_config_arguments, config_from_args
from edgeiqa.train.registry import UnknownNameError


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edgeiqa train", description="Fine-tune a backbone + MLP head on an IQA dataset. "
        "Flags override --config (YAML or JSON); the output folder is the checkpoint.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", help="YAML/JSON file of options (same names as the flags)")
    add_config_arguments(p)
    p.add_argument("--no-pretrained", dest="pretrained", action="store_const", const="false",
                   default=argparse.SUPPRESS, help="random init (same architecture and FLOPs)")
    return p


def main_train(argv: list[str]) -> int:
    args = _train_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cfg = config_from_args(args)
        from edgeiqa.train.trainer import train

        result = train(cfg)
    except (EdgeIQAError, UnknownNameError, FileNotFoundError, ValueError) as err:
        print(f"edgeiqa train: {err}", file=sys.stderr)
        return 1
    if result.test or result.val:
        print(f"best epoch {result.best_epoch + 1}: val {_fmt(result.val)} | test {_fmt(result.test)}")
    print(f"checkpoint: {result.out}  ({result.seconds:.1f}s)")
    return 0


def _fmt(m: dict[str, float]) -> str:
    return " ".join(f"{k}={m[k]:.4f}" for k in ("srcc", "plcc") if k in m) or "-"


def main_predict(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa predict", description="Score images with a PyTorch checkpoint.")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--json", action="store_true", help="JSON lines: {path, score} or {path, error}")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto", help="auto (CUDA when present, as train and score do), cpu, cuda:N")
    args = p.parse_args(argv)
    try:
        import torch
        from edgeiqa.train.predict import CheckpointPredictor

        device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        predictor = CheckpointPredictor(args.checkpoint, device)
    except (EdgeIQAError, UnknownNameError, ValueError) as err:
        print(f"edgeiqa predict: {err}", file=sys.stderr)
        return 1
    paths = find_images(args.images)
    results = predictor.predict([str(x) for x in paths], args.batch_size)
    for r in results:
        if args.json:
            print(json.dumps(r.to_dict()))
        else:
            print(f"{r.score:10.3f}  {r.source}" if r.ok else f"{'error':>10}  {r.source}: {r.error}")
    return 0 if all(r.ok for r in results) else 2
