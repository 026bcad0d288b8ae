"""edgeiqa's int8 (TensorRT flavour) against NVIDIA ModelOpt's ONNX PTQ, on the CLIVE folds.

Issue 20, point 7: the `int8` graph is edgeiqa's own QDQ placement (export/quantize.py, what
TensorRT builds its int8 engine from); NVIDIA's `modelopt.onnx.quantization` (int8 mode) places
QDQ for TensorRT's fusions itself. Both start from each fold's fp32 graph, calibrate on the same
64 training photos (the exporter's own sample), and are scored on the fold's test photos against
fp32 and against MOS. Three steps, because ModelOpt's ONNX extra brings onnxruntime-gpu and
cupy, which must not share an environment with the project's onnxruntime:

    # 1. the project's venv: calibration and test frames of every fold
    .venv/bin/python benchmarks/modelopt_int8.py frames --cv runs/release/cv --frames runs/clive-512.npy --work W
    # 2. a separate venv with `pip install "nvidia-modelopt[onnx]"`: quantise each fold's fp32 graph
    /path/to/modelopt-venv/bin/python benchmarks/modelopt_int8.py quantize --cv runs/release/cv --work W
    # 3. either venv: score fp32, edgeiqa int8 and ModelOpt int8 with ONNX Runtime's CPU provider
    .venv/bin/python benchmarks/modelopt_int8.py report --cv runs/release/cv --work W \
        --json benchmarks/results/modelopt_int8.json --md benchmarks/results/modelopt_int8.md

Both int8 graphs run on ONNX Runtime's CPU kernels here (no GPU was lent): a measure of what the
QDQ placement does to the scores, not of TensorRT's int8 kernels or speed; benchmarks/gpu.sh
builds and verifies TensorRT engines where TensorRT exists.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np

CALIBRATION_IMAGES = 64  # what export_bundle calibrates on by default (GraphOptions.calib_count)


def _folds(cv: Path) -> list[tuple[str, Path, Path]]:
    """(name, bundle, checkpoint) of every fold of a protocol run (train/protocol.py's layout)."""
    out = []
    for bundle in sorted((cv / "bundles").iterdir()):
        manifest = json.loads((bundle / "manifest.json").read_text())
        out.append((bundle.name, bundle, Path(manifest["source_checkpoint"])))
    return out


def frames(args: argparse.Namespace) -> None:
    """Calibration and test frames of each fold, taken from the preprocessed CLIVE frames."""
    from edgeiqa.export.exporter import _dataset_images  # the exporter's own calibration sample
    from edgeiqa.train.checkpoint import read_checkpoint_config
    from edgeiqa.train.data.registry import load_dataset
    from edgeiqa.train.data.splits import load_split

    all_frames = np.load(args.frames, mmap_mode="r")
    meta = json.loads(Path(f"{args.frames}.json").read_text())
    row = {p: i for i, p in enumerate(meta["paths"])}
    args.work.mkdir(parents=True, exist_ok=True)
    for name, _, ckpt in _folds(args.cv):
        cfg = read_checkpoint_config(ckpt)
        t = cfg["train"]
        root = Path(t["data_root"])
        calib, _ = _dataset_images(cfg, ckpt, ("train",), CALIBRATION_IMAGES, int(t.get("seed", 0)))
        ds = load_dataset(t["dataset"], t["data_root"], **({"csv": t["csv"]} if t.get("csv") else {}))
        test = load_split(ckpt / "split.json", ds)["test"]
        np.savez(args.work / f"{name}.npz",
                 calib=np.stack([all_frames[row[str(Path(p).relative_to(root))]] for p in calib]),
                 test=np.stack([all_frames[row[str(ds.samples[i].path.relative_to(root))]] for i in test]),
                 mos=np.array([ds.samples[i].mos for i in test]))
        print(f"{name}: {len(calib)} calibration, {len(test)} test frames")


def quantize(args: argparse.Namespace) -> None:
    """ModelOpt int8 PTQ of each fold's fp32 graph (calibrated on ONNX Runtime's CPU provider)."""
    from modelopt.onnx.quantization import quantize as modelopt_quantize

    for name, bundle, _ in _folds(args.cv):
        data = np.load(args.work / f"{name}.npz")
        out = args.work / f"{name}.modelopt-int8.onnx"
        modelopt_quantize(str(bundle / "model.fp32.onnx"), quantize_mode="int8",
                          calibration_data={"frames": data["calib"]}, calibration_method=args.method,
                          calibration_eps=["cpu"], high_precision_dtype="fp32", output_path=str(out),
                          log_level="WARNING")
        print(f"{name}: {out}")


def _score(path: Path, x: np.ndarray, batch: int = 16) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["score"], {"frames": x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def _srcc(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def report(args: argparse.Namespace) -> None:
    graphs = {"fp32": "model.fp32.onnx", "edgeiqa int8": "model.int8.onnx"}
    rows = []
    for name, bundle, _ in _folds(args.cv):
        data = np.load(args.work / f"{name}.npz")
        x, mos = data["test"], data["mos"]
        paths = {k: bundle / v for k, v in graphs.items()}
        paths["ModelOpt int8"] = args.work / f"{name}.modelopt-int8.onnx"
        scores = {k: _score(p, x) for k, p in paths.items()}
        for k, s in scores.items():
            d = np.abs(s - scores["fp32"])
            rows.append({"fold": name, "graph": k, "n": int(len(x)), "srcc_vs_mos": _srcc(s, mos),
                         "srcc_vs_fp32": _srcc(s, scores["fp32"]), "mean_abs_vs_fp32": float(d.mean()),
                         "max_abs_vs_fp32": float(d.max())})
            print(f"{name} {k:14s} SRCC {rows[-1]['srcc_vs_mos']:.4f}  vs fp32 mean {d.mean():.2f} max {d.max():.2f}")
    cpu = platform.processor() or platform.machine()
    try:
        from edgeiqa.runtime import cpu_class

        info = cpu_class.detect()
        cpu = f"{info.model} ({info.cpu_class})"
    except ImportError:
        pass
    summary = []
    for k in ["fp32", "edgeiqa int8", "ModelOpt int8"]:
        r = [x for x in rows if x["graph"] == k]
        s = np.array([x["srcc_vs_mos"] for x in r])
        summary.append({"graph": k, "srcc_median": float(np.median(s)), "srcc_mean": float(s.mean()),
                        "srcc_std": float(s.std(ddof=1)), "mean_abs_vs_fp32": float(np.mean([x["mean_abs_vs_fp32"]
                                                                                           for x in r])),
                        "max_abs_vs_fp32": float(np.max([x["max_abs_vs_fp32"] for x in r])),
                        "srcc_vs_fp32_min": float(np.min([x["srcc_vs_fp32"] for x in r]))})
    result = {"what": "int8 QDQ placements scored by ONNX Runtime's CPU provider on each CLIVE fold's test photos",
              "cpu": cpu, "calibration": f"{CALIBRATION_IMAGES} training photos per fold (the exporter's sample)",
              "modelopt_calibration_method": args.method, "rows": rows, "summary": summary}
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"Machine: {cpu}; ONNX Runtime CPU provider; 5 CLIVE folds, each fold's test photos.", "",
             "| graph | SRCC median (mean +- std) | mean / max abs vs fp32 (MOS) | min SRCC vs fp32 |",
             "|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['graph']} | {s['srcc_median']:.3f} ({s['srcc_mean']:.3f} +- {s['srcc_std']:.3f}) | "
                     f"{s['mean_abs_vs_fp32']:.2f} / {s['max_abs_vs_fp32']:.2f} | {s['srcc_vs_fp32_min']:.4f} |")
    args.md.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    for step in ("frames", "quantize", "report"):
        s = sub.add_parser(step)
        s.add_argument("--cv", type=Path, required=True, help="a protocol run with bundles/ (release recipe's cv/)")
        s.add_argument("--work", type=Path, required=True, help="folder for frames and ModelOpt graphs")
        if step == "frames":
            s.add_argument("--frames", required=True, help="preprocessed CLIVE frames (.npy + .npy.json of paths)")
        if step in ("quantize", "report"):
            s.add_argument("--method", default="entropy", choices=["entropy", "max"],
                           help="ModelOpt's calibration (entropy: its int8 default)")
        if step == "report":
            s.add_argument("--json", type=Path, required=True)
            s.add_argument("--md", type=Path, required=True)
    args = p.parse_args()
    {"frames": frames, "quantize": quantize, "report": report}[args.step](args)


if __name__ == "__main__":
    main()
