"""One configuration three ways, side by side in one process: is a gap between two tables the
configuration or the machine?

benchmarks/lite_bench.py reported lite0 / ONNX Runtime fp32 / 512 px / batch 8 / 2 threads at
46.9 ms/img in its speed table and 33.3 ms/img in its cost-growth table of the same run. The two
tables time different objects (the bundle's graph through `Scorer.score_array`, the mean per call;
a fresh export of the same network through a bare session, the median per call) minutes apart.
This script times all three objects in alternating rounds, in one process, reporting both the
median and the mean per call, so the objects and the statistic are compared while the machine's
speed is the same for all of them.

    python benchmarks/same_config_check.py --rounds 5 --out benchmarks/results/same_config_check
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=1.5, help="per object per round")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/same_config_check"))
    args = p.parse_args()

    import torch
    from edgeiqa.export.onnx_export import export_onnx, ort_session
    from edgeiqa.runtime import Scorer
    from edgeiqa.runtime.cpu_class import detect
    from lite_bench import count_cost

    batch, size = 8, 512
    frames = np.random.default_rng(0).integers(1, 256, (batch, size, size, 3), dtype=np.uint8)
    scorer = Scorer.load("default", backend="onnxruntime", precision="fp32", threads=2)
    bundle_graph = ort_session(Path(scorer.bundle.path) / "model.fp32.onnx", threads=2)
    with tempfile.TemporaryDirectory() as tmp:
        cost = count_cost("efficientnet-lite0", size)  # what the cost-growth table exports and times
        export_onnx(cost.pop("model"), torch.zeros(2, size, size, 3, dtype=torch.uint8), Path(tmp) / "m.onnx")
        sweep_graph = ort_session(Path(tmp) / "m.onnx", threads=2)
        objects = {"speed table: Scorer.score_array, bundle fp32": lambda: scorer.score_array(frames),
                   "bare session, bundle fp32": lambda: bundle_graph.run(None, {"frames": frames}),
                   "cost-growth table: bare session, fresh export": lambda: sweep_graph.run(None, {"frames": frames})}
        for fn in objects.values():
            fn()
        calls: dict[str, list[list[float]]] = {k: [] for k in objects}
        for _ in range(args.rounds):
            for name, fn in objects.items():
                times, end = [], time.perf_counter() + args.seconds
                while time.perf_counter() < end or len(times) < 3:
                    t0 = time.perf_counter()
                    fn()
                    times.append((time.perf_counter() - t0) / batch * 1e3)
                calls[name].append(times)
    rows = []
    for name, rounds in calls.items():
        medians = [float(np.median(r)) for r in rounds]
        means = [float(np.mean(r)) for r in rounds]
        rows.append({"object": name, "median_of_round_medians": float(np.median(medians)),
                     "median_of_round_means": float(np.median(means)), "round_medians": medians, "round_means": means})
    cpu = detect()
    result = {"config": "efficientnet-lite0 fp32, 512 px, batch 8, 2 threads, ONNX Runtime CPU",
              "cpu": f"{cpu.model} ({cpu.cpu_class})", "date": time.strftime("%Y-%m-%d %H:%M"),
              "rounds": args.rounds, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"{result['config']}; {result['cpu']}; {result['date']}; {args.rounds} alternating rounds in one "
             "process.", "", "| object | ms/img, median per call | ms/img, mean per call | rounds (medians) |",
             "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['object']} | {r['median_of_round_medians']:.1f} | {r['median_of_round_means']:.1f} | "
                     + " ".join(f"{x:.1f}" for x in r["round_medians"]) + " |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
