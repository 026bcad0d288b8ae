"""Is each CPU graph of a bundle right on each CPU class? Scores of rated photos, per class.

The int8 kernels ONNX Runtime runs depend on the CPU (runtime/cpu_class.py): U8S8 saturates on
x86 without VNNI. This measures, on rated photos, every graph against the most exact one (fp32)
and against the MOS, on whichever CPU runs the `score` step - a real machine, or an emulated one:
qemu-user's `-cpu EPYC-Milan` (AMD Zen 3: AVX2, no VNNI) makes ONNX Runtime pick its AVX2
kernels on any x86 host, exactly as on that CPU (only far slower: about 6 s per 512 px photo).

    # 1. decode once, natively (the runtime's own crop + resize), in a seeded order, so any prefix
    #    of the photos is a random sample of them
    python benchmarks/cpu_classes.py decode --bundle engines/edgeiqa-default \
        --data-root ../shared/datasets/clive-train --frames runs/clive-512.npy
    # 2. score on each CPU class (resumable: appends JSON lines, skips what is done)
    python benchmarks/cpu_classes.py score --bundle engines/edgeiqa-default --frames runs/clive-512.npy \
        --precision fp32,int8-cpu,int8-cpu-avx2,int8 --out runs/cpu-classes/native.jsonl
    qemu-x86_64 -cpu EPYC-Milan .venv/bin/python benchmarks/cpu_classes.py score \
        --bundle engines/edgeiqa-default --frames runs/clive-512.npy --precision int8-cpu-avx2,int8-cpu \
        --limit 96 --out runs/cpu-classes/zen3.jsonl --emulated "qemu-user EPYC-Milan (AMD Zen 3)"
    # 3. the table: every graph against fp32 (scored natively) and against the MOS
    python benchmarks/cpu_classes.py report --frames runs/clive-512.npy runs/cpu-classes/*.jsonl \
        --json benchmarks/results/cpu_classes.json --md benchmarks/results/cpu_classes.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from results_io import emit


def decode(args: argparse.Namespace) -> None:
    import csv

    from edgeiqa.runtime import Scorer

    root = Path(args.data_root)
    with open(root / args.csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    order = np.random.default_rng(args.seed).permutation(len(rows))
    rows = [rows[i] for i in order]
    with Scorer.load(args.bundle) as scorer:  # only its input geometry is used
        frames = np.lib.format.open_memmap(args.frames, "w+", np.uint8, (len(rows), scorer.height, scorer.width, 3))
        for i, r in enumerate(rows):
            frames[i] = scorer.load_frame(root / r["path"])
            if i % 100 == 0:
                print(f"decoded {i}/{len(rows)}", file=sys.stderr, flush=True)
        frames.flush()
    meta = {"paths": [r["path"] for r in rows], "mos": [float(r["mos"]) for r in rows], "seed": args.seed,
            "data_root": str(root)}
    Path(args.frames + ".json").write_text(json.dumps(meta))


def score(args: argparse.Namespace) -> None:
    from edgeiqa.runtime import Scorer, cpu_class

    frames = np.load(args.frames, mmap_mode="r")
    n = min(len(frames), args.limit or len(frames))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done: dict[str, set[int]] = {}
    if out.exists():
        for line in out.read_text().splitlines():
            rec = json.loads(line)
            done.setdefault(rec["precision"], set()).update(rec["index"])
    cpu = cpu_class.detect()
    for precision in [p.strip() for p in args.precision.split(",") if p.strip()]:
        todo = [i for i in range(n) if i not in done.get(precision, set())]
        if not todo:
            continue
        with Scorer.load(args.bundle, backend="onnxruntime", device="cpu", precision=precision,
                         threads=args.threads) as scorer:
            t0 = time.perf_counter()
            for k in range(0, len(todo), args.batch):
                idx = todo[k:k + args.batch]
                s = scorer.score_array(np.ascontiguousarray(frames[idx]))
                rec = {"precision": precision, "class": cpu.cpu_class, "cpu": cpu.model, "emulated": args.emulated,
                       "index": idx, "scores": [float(x) for x in s]}
                with open(out, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                print(f"{precision} on {cpu.cpu_class}: {k + len(idx)}/{len(todo)} "
                      f"({(time.perf_counter() - t0) / (k + len(idx)):.2f} s/photo)", file=sys.stderr, flush=True)


def _srcc(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def report(args: argparse.Namespace) -> None:
    meta = json.loads(Path(args.frames + ".json").read_text())
    mos = np.asarray(meta["mos"])
    runs: dict[tuple[str, str, str | None], dict[int, float]] = {}
    for f in args.results:
        for line in Path(f).read_text().splitlines():
            rec = json.loads(line)
            key = (rec["class"], rec["precision"], rec.get("emulated"))
            runs.setdefault(key, {}).update(zip(rec["index"], rec["scores"]))
            runs.setdefault(("cpu", rec["class"], rec["cpu"]), {})  # remembers the CPU's name
    names = {k[1]: k[2] for k in runs if k[0] == "cpu"}
    ref = next((v for (c, p, e), v in runs.items() if p == "fp32" and not e and c != "cpu"), None)
    if ref is None:
        raise SystemExit("no native fp32 run: score fp32 natively first")
    rows = []
    for (cls, precision, emulated), got in sorted(runs.items(), key=lambda kv: (str(kv[0][2]), kv[0][0], kv[0][1])):
        if cls == "cpu":
            continue
        idx = sorted(i for i in got if i in ref)
        a, b = np.array([got[i] for i in idx]), np.array([ref[i] for i in idx])
        d = np.abs(a - b)
        # The same graph on the native CPU: what the CPU class alone changes.
        native = next((v for (c, p, e), v in runs.items() if p == precision and not e and c != "cpu"), {})
        same = [abs(got[i] - native[i]) for i in idx if i in native]
        rows.append({"class": cls, "cpu": names.get(cls), "emulated": emulated, "precision": precision, "n": len(idx),
                     "mean_abs_vs_fp32": float(d.mean()), "max_abs_vs_fp32": float(d.max()),
                     "max_abs_vs_same_graph_native": float(max(same)) if same else None,
                     "srcc": _srcc(a, mos[idx]), "srcc_fp32_same_photos": _srcc(b, mos[idx])})
    result = {"photos": len(mos), "data_root": meta["data_root"], "order_seed": meta["seed"], "rows": rows,
              "reference": "fp32 scored natively on the same photos"}
    lines = ["| CPU class | CPU | graph | photos | vs fp32: mean / max MOS | vs the same graph natively: max | SRCC "
             "| fp32 SRCC (same photos) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        where = f"{r['cpu']}" + (f" (emulated: {r['emulated']})" if r["emulated"] else "")
        same = "-" if not r["emulated"] or r["max_abs_vs_same_graph_native"] is None else \
            f"{r['max_abs_vs_same_graph_native']:.4g}"
        lines.append(f"| {r['class']} | {where} | {r['precision']} | {r['n']} | {r['mean_abs_vs_fp32']:.2f} / "
                     f"{r['max_abs_vs_fp32']:.2f} | {same} | {r['srcc']:.4f} | {r['srcc_fp32_same_photos']:.4f} |")
    emit("\n".join(lines), result, args.json, args.md)
    if args.mark:
        mark_auto_pick(Path(args.mark), rows)


# The bound a graph must keep against fp32 on every photo and every CPU class measured to be picked
# without being asked for (issue 18): mean and max |score - fp32| in MOS points, SRCC drop.
AUTO_PICK_MEAN, AUTO_PICK_MAX, AUTO_PICK_SRCC = 1.5, 8.0, 0.01


def mark_auto_pick(bundle: Path, rows: list[dict]) -> None:
    """Write `auto_pick` (and the reason) into each measured graph's manifest entry; the runtime
    then picks a graph outside the bound only when named (runtime/precision_choice.py)."""
    from edgeiqa.runtime.cpu_class import exact_on

    manifest = json.loads((bundle / "manifest.json").read_text())
    for entry in manifest["models"]:
        # Only where the graph is exact: the runtime never auto-picks it on the other classes anyway.
        mine = [r for r in rows if r["precision"] == entry["precision"] and exact_on(r["precision"], r["class"])]
        if not mine or entry["precision"] == "fp32":
            continue
        worst = max(mine, key=lambda r: (r["max_abs_vs_fp32"], r["mean_abs_vs_fp32"]))
        bad = [f"{what} {value:.{digits}f} > {limit}" for what, value, limit, digits in (
            ("mean", max(r["mean_abs_vs_fp32"] for r in mine), AUTO_PICK_MEAN, 2),
            ("max", max(r["max_abs_vs_fp32"] for r in mine), AUTO_PICK_MAX, 2),
            ("SRCC drop", max(r["srcc_fp32_same_photos"] - r["srcc"] for r in mine), AUTO_PICK_SRCC, 4))
            if value > limit]
        entry["auto_pick"] = not bad
        classes = ", ".join(sorted({r["class"] for r in mine}))
        bound = f"bound: mean {AUTO_PICK_MEAN}, max {AUTO_PICK_MAX} MOS, SRCC -{AUTO_PICK_SRCC}"
        entry["auto_pick_note"] = (f"vs fp32 on {worst['n']} rated photos ({classes}): "
                                   + ("; ".join(bad) if bad else "within the bound") + f" ({bound})")
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("decode")
    d.add_argument("--bundle", required=True)
    d.add_argument("--data-root", required=True)
    d.add_argument("--csv", default="labels.csv")
    d.add_argument("--frames", required=True, help=".npy written here (+ .npy.json with paths and MOS)")
    d.add_argument("--seed", type=int, default=8)
    s = sub.add_parser("score")
    s.add_argument("--bundle", required=True)
    s.add_argument("--frames", required=True)
    s.add_argument("--precision", required=True, help="comma list")
    s.add_argument("--out", required=True, help="JSON lines, appended; what is there is not scored again")
    s.add_argument("--limit", type=int, default=0, help="the first N photos of the seeded order (0: all)")
    s.add_argument("--batch", type=int, default=8)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--emulated", default=None, help="name the emulator, when the CPU is one")
    r = sub.add_parser("report")
    r.add_argument("--frames", required=True)
    r.add_argument("results", nargs="+")
    r.add_argument("--json", default=None)
    r.add_argument("--md", default=None)
    r.add_argument("--mark", default=None, metavar="BUNDLE", help="record in BUNDLE's manifest which graphs keep "
                   "the auto-pick bound (mean 1.5, max 8 MOS, SRCC -0.01 vs fp32) on every class measured")
    args = p.parse_args()
    {"decode": decode, "score": score, "report": report}[args.cmd](args)


if __name__ == "__main__":
    main()
