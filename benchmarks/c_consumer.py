"""The C consumer against Python's `score_array`: per-frame latency and peak memory, side by side.

Same bundle graph, same frames, same thread count; each side in its own fresh process (its peak
RSS is its own: the C program's from wait4, Python's from VmHWM), the two taking turns over
`--rounds` rounds so both sample the same stretch of a shared machine. The first Run of each
process is a warm-up and is dropped; the latency is the median ms per frame of the rest.

    make c-example
    python benchmarks/c_consumer.py --bundle engines/edgeiqa-default --exe examples/c/build/edgeiqa_score \
        --precision int8-cpu --json benchmarks/results/c_consumer.json --md benchmarks/results/c_consumer.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from results_io import emit

PYTHON_SIDE = """
import json, sys, time
import numpy as np
from edgeiqa.runtime import Scorer
bundle, precision, threads, batch, frames_file = sys.argv[1:6]
with Scorer.load(bundle, backend="onnxruntime", device="cpu", precision=precision, threads=int(threads)) as s:
    frames = np.fromfile(frames_file, np.uint8).reshape(-1, *s.item_shape)
    runs = []
    for i in range(0, len(frames), int(batch)):
        chunk = frames[i:i + int(batch)]
        t0 = time.perf_counter()
        s.score_array(chunk)
        runs.append((len(chunk), (time.perf_counter() - t0) * 1e3))
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"runs": runs, "peak_rss_mb": hwm / 1024}))
"""


def run_c(exe: str, bundle: str, precision: str, threads: int, batch: int, frames: Path) -> dict:
    proc = subprocess.Popen([exe, "-v", "-b", str(batch), "-t", str(threads), "-p", precision, bundle, str(frames)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"C consumer failed: {err[-1000:]}")
    runs = [(int(n), float(ms)) for tag, n, ms in (line.split("\t") for line in err.splitlines()
                                                   if line.startswith("run\t"))]
    return {"runs": runs, "peak_rss_mb": usage.ru_maxrss / 1024}


def run_python(bundle: str, precision: str, threads: int, batch: int, frames: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", PYTHON_SIDE, bundle, precision, str(threads), str(batch), str(frames)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def per_frame_ms(runs: list[tuple[int, float]]) -> float:
    return statistics.median(ms / n for n, ms in runs[1:] or runs)  # the first Run warms up


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True)
    p.add_argument("--exe", required=True)
    p.add_argument("--precision", default="int8-cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", default="1,8")
    p.add_argument("--frames", type=int, default=33, help="random frames per process (one batch warms up)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", default=None)
    p.add_argument("--md", default=None)
    args = p.parse_args()
    from edgeiqa.runtime import Scorer
    from edgeiqa.runtime.bench import machine_info

    with Scorer.load(args.bundle, precision=args.precision) as s:
        shape = s.item_shape
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        frames = Path(tmp) / "frames.u8"
        np.random.default_rng(0).integers(1, 256, (args.frames, *shape), dtype=np.uint8).tofile(frames)
        for batch in [int(b) for b in args.batch.split(",")]:
            got: dict[str, list[dict]] = {"c": [], "python": []}
            for r in range(args.rounds):
                print(f"batch {batch}, round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
                got["c"].append(run_c(args.exe, args.bundle, args.precision, args.threads, batch, frames))
                got["python"].append(run_python(args.bundle, args.precision, args.threads, batch, frames))
            for side, results in got.items():
                rounds = [per_frame_ms(x["runs"]) for x in results]
                rows.append({"side": side, "batch": batch, "ms_per_frame": statistics.median(rounds),
                             "rounds_ms_per_frame": rounds,
                             "peak_rss_mb": max(x["peak_rss_mb"] for x in results)})
    machine = machine_info()
    result = {"bundle": args.bundle, "precision": args.precision, "threads": args.threads, "frames": args.frames,
              "rounds": args.rounds, "machine": machine, "rows": rows}
    lines = [f"C consumer vs Python `score_array`, {args.precision}, {args.threads} threads, "
             f"{machine.get('processor')} ({args.rounds} interleaved rounds, medians)", "",
             "| side | batch | ms / frame | range over rounds | peak RSS MB |", "|---|---|---|---|---|"]
    for r in rows:
        lo, hi = min(r["rounds_ms_per_frame"]), max(r["rounds_ms_per_frame"])
        lines.append(f"| {r['side']} | {r['batch']} | {r['ms_per_frame']:.1f} | {lo:.1f}-{hi:.1f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    emit("\n".join(lines), result, args.json, args.md)


if __name__ == "__main__":
    main()
