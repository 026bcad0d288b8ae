"""`edgeiqa score --ray` against `edgeiqa score` on the same files, on this one node, in one run.

Both are whole commands in fresh processes (what a user runs), over the same photos, the default
model, alternating over --rounds so a shared machine's drift hits both alike; images/s is files
over wall time, Ray's start-up included. Writes results/ray_throughput.{json,md}.

    python benchmarks/ray_throughput.py --images ../shared/datasets/clive-train/images --limit 300
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed: {done.stderr[-1500:]}")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="a folder of photos")
    p.add_argument("--limit", type=int, default=300)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default=str(HERE / "results" / "ray_throughput"))
    args = p.parse_args()
    from edgeiqa.runtime.cpu_class import detect
    from edgeiqa.runtime.preprocess import find_images

    files = [f.resolve() for f in sorted(find_images([args.images]))[:args.limit]]
    edgeiqa = str(Path(sys.executable).parent / "edgeiqa")
    work = Path(tempfile.mkdtemp())
    listing = work / "files.csv"
    listing.write_text("path\n" + "\n".join(str(f) for f in files) + "\n")
    print(f"{len(files)} photos, {args.rounds} rounds of: edgeiqa score, then edgeiqa score --ray", flush=True)
    plain, ray = [], []
    for r in range(args.rounds):
        plain.append(timed([edgeiqa, "score", *map(str, files), "--out", str(work / f"plain{r}.jsonl"), "--quiet"]))
        ray.append(timed([edgeiqa, "score", "--ray", str(listing), "--out", str(work / f"ray{r}.parquet"),
                          "--quiet"]))
        print(f"round {r + 1}: score {len(files) / plain[-1]:.1f} img/s, --ray {len(files) / ray[-1]:.1f} img/s",
              flush=True)
    result = {"cpu": detect().model, "cpu_class": detect().cpu_class, "date": time.strftime("%Y-%m-%d"),
              "photos": len(files), "rounds": args.rounds, "score_s": plain, "ray_s": ray,
              "score_img_s": len(files) / statistics.median(plain), "ray_img_s": len(files) / statistics.median(ray)}
    result["ray_vs_score"] = result["ray_img_s"] / result["score_img_s"]
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    table = ("| path | images/s (median of rounds) | wall s per round |\n|---|---|---|\n"
             f"| `edgeiqa score` | {result['score_img_s']:.1f} | {', '.join(f'{t:.1f}' for t in plain)} |\n"
             f"| `edgeiqa score --ray` (local instance, 1 actor) | {result['ray_img_s']:.1f} | "
             f"{', '.join(f'{t:.1f}' for t in ray)} |\n")
    out.with_suffix(".md").write_text(f"{result['date']}, {result['cpu']}, {len(files)} photos: Ray path at "
                                      f"{100 * result['ray_vs_score']:.0f}% of `edgeiqa score`.\n\n" + table)
    print(table + f"ray / score: {result['ray_vs_score']:.2f}")


if __name__ == "__main__":
    main()
