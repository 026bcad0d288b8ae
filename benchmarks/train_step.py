"""Seconds per training step of each backbone alias at its native resolution (random init).

    python benchmarks/train_step.py --batch 2 --regimes lora,full --json benchmarks/results/train_step.json

One warm-up step, then the median of --steps timed steps: forward + loss + backward + optimizer.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from edgeiqa.train.build import build_model
from edgeiqa.train.config import TrainConfig
from edgeiqa.train.losses import iqa_loss

ALIASES = ["resnet50", "dinov2-s14", "pe-core-s16-384", "clip-b16", "siglip2-b16-224", "dinov3-b16",
           "siglip2-so400m-512"]


def time_steps(alias: str, regime: str, batch: int, steps: int) -> dict:
    cfg = TrainConfig(backbone=alias, regime=regime, head="gated")
    model = build_model(cfg)
    if regime == "frozen":
        model.backbone.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)
    pre = model.preprocess
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(steps + 1):
        x = torch.randint(0, 256, (batch, pre.height, pre.width, 3), dtype=torch.uint8, generator=gen)
        y = torch.rand(batch, generator=gen)
        t0 = time.perf_counter()
        loss = iqa_loss(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - t0)
    return {"backbone": alias, "regime": regime, "batch": batch, "resolution": pre.height,
            "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
            "trainable_m": round(sum(p.numel() for p in params) / 1e6, 3),
            "step_s": round(statistics.median(times), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aliases", default=",".join(ALIASES))
    ap.add_argument("--regimes", default="lora,full")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    rows = []
    print(f"{'backbone':<20} {'regime':<7} {'res':>4} {'params(M)':>9} {'train(M)':>9} {'s/step':>8}")
    for alias in args.aliases.split(","):
        for regime in args.regimes.split(","):
            r = time_steps(alias, regime, args.batch, args.steps)
            rows.append(r)
            print(f"{alias:<20} {regime:<7} {r['resolution']:>4} {r['params_m']:>9} {r['trainable_m']:>9} "
                  f"{r['step_s']:>8.3f}", flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                               "threads": torch.get_num_threads(), "torch": torch.__version__,
                                               "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
