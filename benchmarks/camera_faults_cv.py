"""Cross-validate the default recipe with and without camera faults in training.

For every fold (the same seeded folds as release/default_model_recipe.py): train on the fold's
training photos (copies of ITS training photos only), choose the checkpoint on the inner
validation split, then measure on the test fold: SRCC on the rated photos, and the camera faults
rendered from test photos (train/fault_eval.py). Frozen regime: each photo and copy is embedded
once (embedding cache), so a variant costs seconds per fold after the first.

    python benchmarks/camera_faults_cv.py --data-root ../shared/datasets/clive-train \
        --work runs/faults-cv --variants base:0 faults:2

A long comparison can be spread over sessions (`--only-folds 0,1`, later `--only-folds 2,3,4`) and
then summarised as one: `--merge A.json B.json --out C` joins the runs' folds without training.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "release"))
from default_model_recipe import RECIPE  # noqa: E402 - the shipped recipe, measured as it is shipped


def _variant(text: str) -> tuple[str, dict]:
    """'name:kinds[,key=value...]' -> (name, TrainConfig overrides). A value may hold commas
    (fault_kinds=defocus,compression): only a comma before the next `key=` separates."""
    import re

    from edgeiqa.train.config import _parse_bool  # what the CLI reads BOOL flags with

    name, _, rest = text.partition(":")
    parts = re.split(r",(?=\w+=)", rest) if rest else ["0"]
    over: dict = {"camera_faults": int(parts[0])}
    for kv in parts[1:]:
        k, v = kv.split("=")
        kind = type(getattr(_base_config(), k))
        over[k] = _parse_bool(v) if kind is bool else kind(v)  # bool("False") would be True
    return name, over


def _base_config():
    from edgeiqa.train.config import TrainConfig

    return TrainConfig()


def train_head(cfg, split_file: Path, out: Path):
    """(trainer, result) of one frozen-regime run; its head is trainer.model.head."""
    from edgeiqa.train.trainer import Trainer

    trainer = Trainer(dataclasses.replace(cfg, split_file=str(split_file), out=str(out), resume=False))
    return trainer, trainer.run()


def head_outputs_on_fold(trainer, eval_photos: int) -> dict:
    """Scores (and attributes) of one head on the fold's test photos, the eval photos and their
    rendered copies: the raw material of every metric, so heads can be averaged first."""
    from edgeiqa.train.fault_eval import eval_copies, head_outputs

    test = trainer.split["test"]
    rng = np.random.default_rng(trainer.cfg.seed)
    chosen = sorted(rng.choice(test, min(eval_photos, len(test)), replace=False).tolist())
    photos = [trainer.ds.samples[i].path for i in chosen]
    copies = eval_copies(photos, Path(trainer.cache.folder).parent, trainer.cfg.seed)
    head = trainer.model.head
    clean_s, clean_a = head_outputs(head, trainer.cache.get(photos).float())
    copy_s, copy_a = head_outputs(head, trainer.cache.get([c.path for c in copies]).float())
    rated_emb = trainer.cache.get([trainer.ds.samples[i].path for i in test]).float()
    rated_s, _ = head_outputs(head, rated_emb)
    with torch.no_grad():  # the MOS head without the fault penalty: what the penalty costs rated photos
        rated_mos_head = head.eval().mos(rated_emb).numpy()
    return {"photos": photos, "copies": copies, "clean_s": clean_s, "clean_a": clean_a, "copy_s": copy_s,
            "copy_a": copy_a, "rated_s": rated_s,
            "rated_mos_head": rated_mos_head, "test_mos": np.array([trainer.ds.samples[i].mos for i in test]),
            "eval_mos": np.array([trainer.ds.samples[i].mos for i in chosen])}


def fold_metrics(o: dict, best_epoch: int | list[int]) -> dict:
    from edgeiqa.train.fault_eval import fault_report
    from edgeiqa.train.metrics import plcc, srcc

    report = fault_report(o["clean_s"], o["clean_a"], o["copies"], o["copy_s"], o["copy_a"], o["eval_mos"],
                          o["rated_s"], o["photos"])
    test = {"srcc": srcc(o["rated_s"], o["test_mos"]), "plcc": plcc(o["rated_s"], o["test_mos"]),
            "srcc_mos_head_alone": srcc(o["rated_mos_head"], o["test_mos"])}
    return {"test": test, "best_epoch": best_epoch, "faults": report}


def inner_splits(split_file: Path, k: int, out: Path) -> list[Path]:
    """The K member splits of one fold, as `--head-ensemble K` makes them (train/head_ensemble.py)."""
    from edgeiqa.train.head_ensemble import member_splits

    split = json.loads(split_file.read_text())
    paths = []
    for j, part in enumerate(member_splits(split, k, split.get("seed", 0))):
        path = out / f"{split_file.stem}.inner{j}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(part))
        paths.append(path)
    return paths


def run_fold(cfg, split_file: Path, out: Path, eval_photos: int, ensemble: int = 1) -> dict:
    """One fold's metrics: of one head, or of the average of `ensemble` inner fold heads."""
    if ensemble <= 1:
        trainer, result = train_head(cfg, split_file, out)
        return fold_metrics(head_outputs_on_fold(trainer, eval_photos), result.best_epoch)
    outputs, epochs = [], []
    for j, inner in enumerate(inner_splits(split_file, ensemble, out / "splits")):
        trainer, result = train_head(cfg, inner, out / f"head{j}")
        outputs.append(head_outputs_on_fold(trainer, eval_photos))
        epochs.append(result.best_epoch)
    mean = dict(outputs[0])
    for key in ("clean_s", "clean_a", "copy_s", "copy_a", "rated_s", "rated_mos_head"):
        if outputs[0][key] is not None:
            mean[key] = np.mean([o[key] for o in outputs], axis=0)
    return fold_metrics(mean, epochs)


def summarise(folds: list[dict]) -> dict:
    def med(values):
        return {"median": statistics.median(values), "mean": float(np.mean(values)), "std": float(np.std(values))}

    out = {"srcc": med([f["test"]["srcc"] for f in folds]),
           "broken_below_p5": med([f["faults"]["broken"]["below_p5"] for f in folds]),
           "worst_kind_spearman": med([f["faults"]["worst_kind_spearman"] for f in folds]),
           "worst_kind_pairs": med([f["faults"]["worst_kind_pairs"] for f in folds]),
           "kinds": {k: {"spearman": med([f["faults"]["kinds"][k]["mean_spearman"] for f in folds]),
                         "pairs_right": med([f["faults"]["kinds"][k]["pairs_right"] for f in folds])}
                     for k in folds[0]["faults"]["kinds"]}}
    if "attributes" in folds[0]["faults"]:
        out["attributes"] = {k: med([f["faults"]["attributes"][k] for f in folds])
                             for k in folds[0]["faults"]["attributes"]}
        out["authentic"] = {k: med([f["faults"]["authentic"][k] for f in folds])
                            for k in folds[0]["faults"]["authentic"]}
    return out


def markdown(results: dict) -> str:
    lines = ["| variant | CV SRCC median (mean +- std) | worst kind Spearman | worst kind pairs | broken < p5 |",
             "|---|---|---|---|---|"]
    for name, r in results.items():
        s = r["summary"]
        lines.append(f"| {name} | {s['srcc']['median']:.3f} ({s['srcc']['mean']:.3f} +- {s['srcc']['std']:.3f}) | "
                     f"{s['worst_kind_spearman']['median']:.2f} | {s['worst_kind_pairs']['median']:.2f} | "
                     f"{s['broken_below_p5']['median']:.2f} |")
    kinds = list(next(iter(results.values()))["summary"]["kinds"])
    lines += ["", "Within-(photo, kind) Spearman / pairs ordered right, median over folds:", "",
              "| variant | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for name, r in results.items():
        k = r["summary"]["kinds"]
        cells = [f"{k[x]['spearman']['median']:.2f} / {k[x]['pairs_right']['median']:.2f}" for x in kinds]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, r in results.items():
        if "attributes" in r["summary"]:
            a = r["summary"]["attributes"]
            lines += ["", f"Attributes of `{name}` on held-out copies (Spearman with the true level; broken: "
                      "recall and false alarms at p > 0.5), and on the authentic photos, median over folds:", "",
                      "| " + " | ".join(a) + " | " + " | ".join(r["summary"]["authentic"]) + " |",
                      "|" + "---|" * (len(a) + len(r["summary"]["authentic"]))]
            lines.append("| " + " | ".join(f"{v['median']:.2f}" for v in a.values()) + " | "
                         + " | ".join(f"{v['median']:.2f}" for v in r["summary"]["authentic"].values()) + " |")
    return "\n".join(lines) + "\n"


def merge_runs(runs: list[dict]) -> tuple[dict, list[int], dict]:
    """(first run's settings, fold indices, results) of earlier `--only-folds` runs joined fold by
    fold, for the variants every run measured (a baseline measured elsewhere on the later folds can
    be left out). Refused when they differ in anything but their folds (recipe, fold count,
    ensemble, eval photos, a variant's overrides) or measure a fold twice: the medians would mix
    experiments."""
    same = ("recipe", "folds", "ensemble", "eval_photos")
    first = runs[0]
    for run in runs[1:]:
        diff = [k for k in same if run.get(k) != first.get(k)]
        if diff:
            raise SystemExit(f"--merge: the runs differ in {diff}; not one experiment")
    common = [name for name in first["results"] if all(name in r["results"] for r in runs)]
    if not common:
        raise SystemExit("--merge: no variant is in every run")
    indices = [[int(i) for i in r["only_folds"].split(",")] if r.get("only_folds") else list(range(r["folds"]))
               for r in runs]
    flat = [i for idx in indices for i in idx]
    if len(set(flat)) != len(flat):
        raise SystemExit(f"--merge: a fold is measured twice ({sorted(flat)})")
    results = {}
    for name in common:
        if any(r["results"][name]["overrides"] != first["results"][name]["overrides"] for r in runs):
            raise SystemExit(f"--merge: variant {name!r} has other overrides in one of the runs")
        joined = sorted((i, f) for r, idx in zip(runs, indices, strict=True)
                        for i, f in zip(idx, r["results"][name]["folds"], strict=True))
        folds = [f for _, f in joined]
        results[name] = {"overrides": first["results"][name]["overrides"], "folds": folds,
                         "fold_indices": [i for i, _ in joined], "summary": summarise(folds),
                         "seconds": sum(r["results"][name]["seconds"] for r in runs)}
    return first, sorted(flat), results


def write_merged(paths: list[str], out: Path) -> None:
    runs = [json.loads(Path(x).read_text()) for x in paths]
    first, folds, results = merge_runs(runs)
    only = "" if folds == list(range(first["folds"])) else ",".join(map(str, folds))
    sources = "; ".join(f"folds {r.get('only_folds', 'all')} measured {r['date']} on {r['cpu']} ({x})"
                        for r, x in zip(runs, paths, strict=True))
    meta = {k: first[k] for k in ("recipe", "folds", "eval_photos", "ensemble")}
    meta.update({**({"only_folds": only} if only else {}), "merged_from": paths, "sources": sources,
                 "date": time.strftime("%Y-%m-%d")})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({**meta, "results": results}, indent=1))
    subset = f" (folds {only} only: every median below is over those)" if only else ""
    heads = f"; each fold scored by the mean of {meta['ensemble']} inner fold heads" if meta["ensemble"] > 1 else ""
    out.with_suffix(".md").write_text(f"{meta['folds']}-fold CV on CLIVE{subset}, joined from {sources}; camera "
                                      f"faults rendered from {meta['eval_photos']} test photos per fold{heads}.\n\n"
                                      + markdown(results))
    print(markdown(results))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", help="the rated photos (every mode but --merge)")
    p.add_argument("--csv", default="labels.csv")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--work", default="runs/faults-cv")
    p.add_argument("--variants", nargs="+", default=["base:0", "faults:2"],
                   help="name:kinds[,option=value...], e.g. faults:2,fault_rank_weight=0.5")
    p.add_argument("--eval-photos", type=int, default=40, help="test photos per fold rendered with every fault")
    p.add_argument("--only-folds", default="", metavar="I,J",
                   help="an early read on some of the folds (e.g. 0,1): the medians are then over those folds "
                        "only, and the tables say so; a release quotes all of them")
    p.add_argument("--merge", nargs="+", default=[], metavar="JSON",
                   help="join the .json files of earlier --only-folds runs (same recipe and variants, other "
                        "folds) into one table at --out; trains nothing")
    p.add_argument("--out", default="benchmarks/results/camera_faults_cv")
    p.add_argument("--ensemble", type=int, default=RECIPE.get("head_ensemble", 1), metavar="K",
                   help="score with the mean of K heads per fold, each trained without a different 1/K of the "
                        "fold's training photos, as --head-ensemble K does (default: the shipped recipe's)")
    args = p.parse_args()
    if args.merge:
        return write_merged(args.merge, Path(args.out))
    if not args.data_root:
        p.error("--data-root is required (except with --merge)")

    from edgeiqa.train.config import TrainConfig
    from edgeiqa.train.data.camera_faults import FAULTS
    from edgeiqa.train.protocol import write_fold_splits

    work = Path(args.work)
    recipe = {**RECIPE, "head_ensemble": 1}  # the members are trained here one by one (--ensemble)
    base = TrainConfig(dataset="csv", data_root=str(Path(args.data_root).resolve()), csv=args.csv,
                       out=str(work / "unused"), **recipe)
    splits = write_fold_splits(base, "csv", base.data_root, args.folds, work)
    chosen = [int(i) for i in args.only_folds.split(",")] if args.only_folds else list(range(args.folds))
    if not set(chosen) <= set(range(args.folds)):
        p.error(f"--only-folds {args.only_folds}: folds are 0..{args.folds - 1}")
    print(f"{len(args.variants)} variants x {args.folds} folds; per fold: train (frozen, cached embeddings), "
          f"then {args.eval_photos} test photos x {len(FAULTS)} faults x 4 levels + broken frames", flush=True)
    results = {}
    for text in args.variants:
        name, over = _variant(text)
        t0 = time.perf_counter()
        cfg = dataclasses.replace(base, **over)
        folds = [run_fold(cfg, splits[i], work / name / f"fold{i}", args.eval_photos, args.ensemble)
                 for i in chosen]
        results[name] = {"overrides": over, "folds": folds, "summary": summarise(folds),
                         "seconds": round(time.perf_counter() - t0, 1)}
        _write(Path(args.out), args, results)  # after every variant: a killed run keeps what it measured
        print(f"{name}: SRCC {results[name]['summary']['srcc']['median']:.4f}, worst kind "
              f"{results[name]['summary']['worst_kind_spearman']['median']:.2f}, broken<p5 "
              f"{results[name]['summary']['broken_below_p5']['median']:.2f} ({results[name]['seconds']}s)", flush=True)
    print(markdown(results))


def _write(out: Path, args: argparse.Namespace, results: dict) -> None:
    from edgeiqa.runtime.cpu_class import detect

    meta = {"recipe": RECIPE, "folds": args.folds, "eval_photos": args.eval_photos, "ensemble": args.ensemble,
            **({"only_folds": args.only_folds} if args.only_folds else {}),
            "cpu": detect().model,
            "date": time.strftime("%Y-%m-%d")}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({**meta, "results": results}, indent=1))
    heads = f"; each fold scored by the mean of {args.ensemble} inner fold heads" if args.ensemble > 1 else ""
    subset = f" (folds {args.only_folds} only: every median below is over those)" if args.only_folds else ""
    out.with_suffix(".md").write_text(f"Measured {meta['date']} on {meta['cpu']}; {args.folds}-fold CV on CLIVE"
                                      f"{subset}, "
                                      f"camera faults rendered from {args.eval_photos} test photos per fold"
                                      f"{heads}.\n\n"
                                      + markdown(results))


if __name__ == "__main__":
    main()
