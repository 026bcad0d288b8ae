"""`edgeiqa analyze CHECKPOINT --out DIR`: Grad-CAM, t-SNE and learned-activation PNGs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from edgeiqa.runtime.errors import EdgeIQAError
from edgeiqa.runtime.preprocess import find_images


def _checkpoint_images(ckpt: Path, cfg: dict, limit: int) -> tuple[list[Path], np.ndarray]:
    """The run's own test images (split.json) with their MOS; all images when the split is tiny."""
    from edgeiqa.train.data.registry import load_dataset
    from edgeiqa.train.data.splits import load_split

    train_cfg = cfg["train"]
    ds = load_dataset(train_cfg["dataset"], train_cfg["data_root"],
                      **({"csv": train_cfg["csv"]} if train_cfg.get("csv") else {}))
    idx = load_split(ckpt / "split.json", ds)["test"] if (ckpt / "split.json").is_file() else list(
        range(len(ds.samples)))
    if len(idx) < 20:  # too few held-out images for a t-SNE: show the whole set
        idx = list(range(len(ds.samples)))
    rng = np.random.default_rng(0)
    idx = sorted(rng.choice(idx, size=min(limit, len(idx)), replace=False).tolist())
    return [ds.samples[i].path for i in idx], np.array([ds.samples[i].mos for i in idx])


def main_analyze(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa analyze", description="Write grad_cam.png, tsne.png and "
                                "activations.png for a checkpoint (its test images unless --images).")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--images", nargs="*", help="images/folders for Grad-CAM (default: the run's test split)")
    p.add_argument("--n-cam", type=int, default=6)
    p.add_argument("--n-tsne", type=int, default=300)
    args = p.parse_args(argv)
    from edgeiqa.train import analysis
    from edgeiqa.train.predict import CheckpointPredictor

    try:
        pred = CheckpointPredictor(args.checkpoint)
        ckpt = Path(args.checkpoint)
        paths, mos = _checkpoint_images(ckpt, pred.config, args.n_tsne)
    except (EdgeIQAError, KeyError, FileNotFoundError) as err:
        print(f"edgeiqa analyze: {err}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cam_paths = find_images(args.images) if args.images else paths[:: max(1, len(paths) // args.n_cam)][: args.n_cam]
    frames = np.stack([pred.pre.load(x) for x in cam_paths])
    cams = analysis.grad_cam(pred.model, frames)
    scores = [float(s) for s in pred.predict_frames(frames)]
    analysis.plot_grad_cam(frames, cams, scores, out / "grad_cam.png")
    written = ["grad_cam.png"]
    if len(paths) >= 5:
        analysis.plot_tsne(pred.model, np.stack([pred.pre.load(x) for x in paths]), mos, out / "tsne.png")
        written.append("tsne.png")
    if analysis.plot_activations(pred.model, out / "activations.png"):
        written.append("activations.png")
    print(json.dumps({"out": str(out), "written": written}))
    return 0
