"""What one bundle costs against another: ms per image and file size per precision, side by side.

Both bundles are timed in one process in alternating rounds (ONNX Runtime, the bundle's own
reference frames, 2 threads), so a shared machine's drift falls on both alike; each cell is the
median over rounds of the median call. Written for the default model's head ensemble (four heads
on one backbone) against the single head it replaced:

    python benchmarks/bundle_cost.py --bundle one-head=/tmp/old/engines/edgeiqa-default \
        --bundle four-heads=engines/edgeiqa-default --out benchmarks/results/head_ensemble_cost
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


def _graph(bundle, precision: str) -> Path:
    return bundle.file(bundle.find("onnx", precision)[0])


def _session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _median_call(sess, frames: np.ndarray, calls: int) -> float:
    name = sess.get_inputs()[0].name
    sess.run(None, {name: frames})  # warm-up
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        sess.run(None, {name: frames})
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", action="append", required=True, metavar="NAME=PATH")
    p.add_argument("--precision", default="fp32,int8-cpu")
    p.add_argument("--batch", default="1,8")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/bundle_cost")
    args = p.parse_args()

    from edgeiqa.runtime.bundle import load_bundle
    from edgeiqa.runtime.cpu_class import detect
    from edgeiqa.runtime.reference import load_reference

    bundles = {name: load_bundle(path) for name, path in (b.split("=", 1) for b in args.bundle)}
    precisions, batches = args.precision.split(","), [int(b) for b in args.batch.split(",")]
    frames = load_reference(next(iter(bundles.values()))).frames
    cells = [(n, prec, b) for n in bundles for prec in precisions for b in batches]
    print(f"{len(cells)} cells x {args.rounds} rounds x {args.calls} calls, bundles in turn", flush=True)
    sessions = {(n, prec): _session(_graph(bundles[n], prec), args.threads) for n in bundles for prec in precisions}
    times: dict[tuple, list[float]] = {c: [] for c in cells}
    from tqdm.auto import tqdm

    for _ in tqdm(range(args.rounds), desc="rounds"):
        for n, prec, b in cells:
            batch = np.ascontiguousarray(np.resize(frames, (b, *frames.shape[1:])))
            times[(n, prec, b)].append(_median_call(sessions[(n, prec)], batch, args.calls) / b * 1000)
    rows = [{"bundle": n, "precision": prec, "batch": b, "ms_per_image": statistics.median(times[(n, prec, b)]),
             "rounds_ms": times[(n, prec, b)], "file_mb": _graph(bundles[n], prec).stat().st_size / 1e6}
            for n, prec, b in cells]
    first = next(iter(bundles))
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {detect().model}, ONNX Runtime CPU, {args.threads} threads, "
             f"median over {args.rounds} alternating rounds of the median of {args.calls} calls.", "",
             "| bundle | precision | batch | ms / image | vs " + first + " | file MB |", "|---|---|---|---|---|---|"]
    for r in rows:
        ref = next(x for x in rows if x["bundle"] == first and x["precision"] == r["precision"]
                   and x["batch"] == r["batch"])
        lines.append(f"| {r['bundle']} | {r['precision']} | {r['batch']} | {r['ms_per_image']:.1f} | "
                     f"{r['ms_per_image'] / ref['ms_per_image']:.2f}x | {r['file_mb']:.1f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"cpu": detect().model, "rows": rows}, indent=1))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
