"""How bundles order graded distortions of photos they never saw, per distortion.

The demo's graded set (train/data/synthetic.py: 15 distortions x 5 levels) built from all seven of
scikit-image's colour photographs at each bundle's own input size (one crop per photo, no resize
of the distortions), so a CLIVE-trained bundle is measured on seven unseen photos per distortion
rather than the demo's two held-out ones. Per distortion: the mean within-photo Spearman between
score and level (clean = 0) and the share of (cleaner, worse) pairs ordered right; then the mean
over distortions, which is the issue's "demo graded set" number.

    python benchmarks/graded_set.py --bundle shipped=default --bundle candidate=runs/x/bundle \
        --out benchmarks/results/graded_set
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
from pathlib import Path

import numpy as np


def graded_set(folder: Path, size: int, seed: int) -> list[dict[str, str]]:
    """Write (or reuse) the graded set at `size` px; its rows."""
    from edgeiqa.train.data.synthetic import build_synthetic

    if not (folder / "synthetic.csv").is_file():
        build_synthetic(folder, None, seed=seed, size=size, crops=1, labels="level", progress=True)
    with open(folder / "synthetic.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def per_distortion(rows: list[dict[str, str]], scores: np.ndarray) -> dict[str, dict[str, float]]:
    from edgeiqa.train.graded import expand_references, graded_ordering, synthetic_groups

    out = {}
    for d in sorted({r["distortion"] for r in rows} - {"reference"}):
        sel = [i for i, r in enumerate(rows) if r["distortion"] in (d, "reference")]
        keys, levels = synthetic_groups([rows[i] for i in sel])
        k, lv, sc = expand_references(keys, levels, [float(scores[i]) for i in sel])
        g = graded_ordering(k, lv, sc)
        out[d] = {"spearman": g["mean_spearman"], "pairs_right": g["pairs_right"], "groups": g["groups"]}
    return out


def main() -> None:
    from edgeiqa.runtime import Scorer
    from edgeiqa.runtime.cpu_class import detect

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", action="append", required=True, metavar="NAME=DIR", help="repeatable")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--work", default="runs/graded-set")
    p.add_argument("--out", default="benchmarks/results/graded_set")
    args = p.parse_args()
    results = {}
    for spec in args.bundle:
        name, _, path = spec.partition("=")
        with Scorer.load(path or name, backend="onnxruntime", precision="fp32") as scorer:
            folder = Path(args.work) / f"{scorer.height}px-seed{args.seed}"
            rows = graded_set(folder, scorer.height, args.seed)
            print(f"{name}: scoring {len(rows)} images", flush=True)
            scores = np.array([r.score for r in scorer.score([folder / r["path"] for r in rows])], np.float64)
        kinds = per_distortion(rows, scores)
        results[name] = {"bundle": path or name, "per_distortion": kinds,
                         "mean_spearman": float(np.mean([v["spearman"] for v in kinds.values()])),
                         "mean_pairs_right": float(np.mean([v["pairs_right"] for v in kinds.values()]))}
        print(f"{name}: mean Spearman {results[name]['mean_spearman']:.3f}, pairs "
              f"{results[name]['mean_pairs_right']:.3f}", flush=True)
    names = list(results)
    kinds = list(results[names[0]]["per_distortion"])
    lines = [f"Graded set: scikit-image's 7 colour photos x 15 distortions x 5 levels at each bundle's input "
             f"size, seed {args.seed}; fp32, ONNX Runtime, {detect().model} ({platform.machine()}). "
             "Within-photo Spearman / pairs ordered right.", "",
             "| distortion | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for k in kinds:
        lines.append(f"| {k} | " + " | ".join(f"{results[n]['per_distortion'][k]['spearman']:.2f} / "
                                               f"{results[n]['per_distortion'][k]['pairs_right']:.2f}"
                                               for n in names) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{results[n]['mean_spearman']:.3f} / "
                                              f"{results[n]['mean_pairs_right']:.3f}**" for n in names) + " |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"seed": args.seed, "cpu": detect().model, "results": results},
                                                   indent=1))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
