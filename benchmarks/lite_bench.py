"""The edge models' speed next to their accuracy, and how close each is to this machine's limit.

One script, one run, every number side by side (docs/benchmarks.md, "Lite bundles", is
regenerated from its output):

1. Machine limits, measured first: fp32 GEMM peak and memory bandwidth (1 and 2 threads).
2. `edgeiqa bench` rows (each backend in its own process) for every lite bundle given: ONNX
   Runtime fp32 / int8-cpu / int8 / int8-dynamic and PyTorch eager fp32 (NCHW, channels_last)
   and bf16 from the bundle's checkpoint; the full batch x threads grid for the first bundle
   (the default's backbone), batch 8 at 2 threads for the others; end-to-end rows on the CLIVE
   photos and on 12 MP camera JPEGs the script writes itself.
3. Each row carries the cross-validated SRCC of that exported precision (the CV JSONs of
   release/default_model_recipe.py); srcc_vs_ms.png plots one point per backbone x precision, with
   the random-init SigLIP2 bundles' latency (benchmarks/results/cpu_*.json) for scale.
4. lite0 cost against input size (224-1024) and batch (1-32), ONNX Runtime fp32, with the floor
   from counted FLOPs and bytes over the measured peak and bandwidth: cost_growth.png.
5. The pixel stages per image on one core (decode, draft decode, resize, copy) and the
   end-to-end throughput against the CPU bound n_cores / (model core time + pixel core time).

    python benchmarks/lite_bench.py --clive ../shared/datasets/clive-train \
        --bundle efficientnet-lite0=runs/default-bundle/cv/bundles/fold0 \
        --cv efficientnet-lite0=benchmarks/results/default_bundle_cv.json ...
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
ORT_PRECISIONS = ("fp32", "int8-cpu", "int8", "int8-dynamic")


def timed(fn, min_s: float = 1.0, min_n: int = 3) -> float:
    """Seconds per call: the median of repeated calls after one warm-up."""
    fn()
    times: list[float] = []
    t_end = time.perf_counter() + min_s
    while len(times) < min_n or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine_limits() -> dict[str, float]:
    """fp32 GEMM GFLOP/s and copy bandwidth GB/s at 1 and 2 threads, measured in this run."""
    import torch

    out = {}
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    src = torch.empty(64 << 20, dtype=torch.float32).fill_(1.0)  # 256 MB: far past every cache
    dst = torch.empty_like(src)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        out[f"gemm_gflops_t{threads}"] = 2 * 2048**3 / timed(lambda: a @ b) / 1e9
        out[f"copy_gbps_t{threads}"] = 2 * src.numel() * 4 / timed(lambda: dst.copy_(src)) / 1e9  # read + write
    torch.set_num_threads(os.cpu_count() or 2)
    return out


def make_camera_jpegs(clive: Path, folder: Path, n: int = 24) -> list[Path]:
    """12 MP (4000x3000) JPEGs made from real photos: upscaled, with sensor-like noise, quality 92."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i, src in enumerate(sorted((clive / "images").glob("*"))[:n]):
        big = Image.open(src).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
        arr = np.asarray(big, np.float32) + rng.normal(0, 3, (3000, 4000, 3))
        p = folder / f"camera_{i}.jpg"
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(p, quality=92)
        paths.append(p)
    return paths


def bench_bundle(bundle: Path, checkpoint: str | None, full: bool, clive_dir: Path, camera_dir: Path,
                 rounds: int) -> list[dict[str, Any]]:
    """The bundle's `edgeiqa bench` rows; every call interleaves its backends over `rounds` rounds."""
    from edgeiqa.runtime.bench import BenchConfig
    from edgeiqa.runtime.bench_cli import run_bench

    rows: list[dict[str, Any]] = []
    grid = [(2, (1, 8, 32)), (1, (1, 8, 32))] if full else [(2, (8,))]
    for threads, batches in grid:
        cfg = BenchConfig(batches, warmup=1, iters=3, min_seconds=0.6, end_to_end=False)
        res = run_bench(str(bundle), ["onnxruntime"], list(ORT_PRECISIONS), cfg, threads,
                        baseline="torch" if checkpoint and threads == 2 else None, checkpoint=checkpoint,
                        device="cpu", rounds=rounds)
        rows += [{**r, "threads": threads} for r in res["rows"]]
    # End to end: each process times the model-only batch next to the end-to-end pass, so the CPU
    # bound of a row comes from the same minutes; three or more batches per pass, so the loader's
    # fill and drain are not the whole run.
    for label, folder, n in (("clive", clive_dir, 64), ("camera_12mp", camera_dir, 24)):
        cfg = BenchConfig((8,), warmup=1, iters=5, min_seconds=0.6, end_to_end=True, e2e_images=n, images=str(folder))
        res = run_bench(str(bundle), ["onnxruntime"], ["fp32", "int8-cpu"] if full else ["fp32"], cfg, 2,
                        device="cpu", rounds=rounds)
        rows += [{**r, "threads": 2, "images": label} for r in res["rows"]]
    return rows


def cv_srcc(cv_file: Path) -> dict[str, dict[str, float]]:
    """{precision: {median, std}} from default_bundle.py's JSON (bundle card or --cv-only)."""
    d = json.loads(cv_file.read_text())
    by = d.get("by_precision") or d["cross_validation"]["by_precision"]
    return {p: {"median": v["srcc_median"], "std": v["srcc_std"], "folds": len(v["srcc_folds"])}
            for p, v in by.items()}


def count_cost(alias: str, size: int) -> dict[str, Any]:
    """FLOPs (torch's counter) and bytes moved per image of the scoring model at this input size:
    the weights, the input, and each convolution's / linear layer's fp32 output written and read
    once (norms and activations fuse into the convs in the exported graph, so theirs do not count).
    `layers` keeps each layer's own (FLOPs, bytes) for the per-layer roofline."""
    import torch
    from edgeiqa.train.backbones import create_backbone
    from edgeiqa.train.heads import IQAHead
    from edgeiqa.train.model import IQAModel
    from torch.utils.flop_counter import FlopCounterMode

    bb = create_backbone(alias, image_size=size)
    model = IQAModel(bb, IQAHead(bb.embed_dim, 512, "gated")).eval()
    x = torch.zeros(1, size, size, 3, dtype=torch.uint8)
    layers: list[tuple[float, float]] = []  # per layer: FLOPs, bytes (its output written + read, its weights)
    activation_bytes = [0.0]
    ran: set[int] = set()

    def hook(m, _i, out):
        if isinstance(out, torch.Tensor):
            ran.add(id(m))
            w = m.weight
            macs = out.numel() * (w[0].numel() if isinstance(m, torch.nn.Conv2d) else w.shape[1])
            activation_bytes[0] += 2.0 * out.numel() * 4
            layers.append((2.0 * macs, 2.0 * out.numel() * 4 + w.numel() * 4))

    mods = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    handles = [m.register_forward_hook(hook) for m in mods]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    for h in handles:
        h.remove()
    unused = sum(p.numel() * 4 for m in mods if id(m) not in ran for p in m.parameters())  # e.g. the head conv
    weights = sum(p.numel() * 4 for p in model.parameters()) - unused
    return {"flops": float(counter.get_total_flops()), "bytes": activation_bytes[0] + weights + x.numel(),
            "layers": layers, "input_bytes": float(x.numel()), "model": model}


def floors_ms(cost: dict[str, Any], peak: float, bw: float) -> dict[str, float]:
    """Two lower bounds on a layer-by-layer run: the whole model's max(FLOPs / peak, bytes / bw), and
    the per-layer roofline, the sum of each layer's own max (a layer cannot lend its idle ALUs or
    idle memory bus to the next one, so this is the tighter and truer of the two)."""
    whole = max(cost["flops"] / peak, cost["bytes"] / bw)
    roofline = sum(max(f / peak, b / bw) for f, b in cost["layers"]) + cost["input_bytes"] / bw
    return {"whole_model_floor_ms": whole * 1e3, "roofline_ms": roofline * 1e3}


def cost_growth(alias: str, limits: dict[str, float], threads: int = 2) -> list[dict[str, Any]]:
    import torch
    from edgeiqa.export.onnx_export import export_onnx, ort_session

    rows = []
    peak, bw = limits[f"gemm_gflops_t{threads}"] * 1e9, limits[f"copy_gbps_t{threads}"] * 1e9
    plan = [(s, 8) for s in (224, 320, 384, 512, 640, 768, 1024)] + [(512, b) for b in (1, 2, 4, 16, 32)]
    sessions: dict[int, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size, batch in plan:
            if size not in sessions:
                cost = count_cost(alias, size)
                path = Path(tmp) / f"m{size}.onnx"
                export_onnx(cost.pop("model"), torch.zeros(2, size, size, 3, dtype=torch.uint8), path)
                sessions[size] = (ort_session(path, threads=threads), cost)
            sess, cost = sessions[size]
            frames = np.random.default_rng(0).integers(1, 256, (batch, size, size, 3), dtype=np.uint8)
            ms = timed(lambda s=sess, f=frames: s.run(None, {"frames": f}), min_s=1.5) / batch * 1e3
            floors = floors_ms(cost, peak, bw)
            rows.append({"size": size, "batch": batch, "ms_per_img": ms, "gflops": cost["flops"] / 1e9,
                         "mbytes": cost["bytes"] / 1e6, **floors, "floor_ms": floors["roofline_ms"],
                         "ratio_to_floor": ms / floors["roofline_ms"],
                         "bound": "compute" if cost["flops"] / peak >= cost["bytes"] / bw else "memory"})
            print(f"  cost {size}px b{batch}: {ms:.1f} ms/img, roofline {floors['roofline_ms']:.1f}, whole-model "
                  f"floor {floors['whole_model_floor_ms']:.1f} ({rows[-1]['bound']})", flush=True)
    return rows


def pixel_stages(clive: Path, camera: list[Path], size: int = 512) -> dict[str, float]:
    """ms per image on one core for each pixel stage of the runtime (its own functions)."""
    from edgeiqa.runtime.preprocess import decode, resize
    from PIL import Image

    small = sorted((clive / "images").glob("*"))[:16]
    out: dict[str, float] = {}

    def per_image(paths, fn) -> float:
        return timed(lambda: [fn(p) for p in paths], min_s=1.0) / len(paths) * 1e3

    out["decode_clive_500px_ms"] = per_image(small, lambda p: np.asarray(decode(p)))
    out["decode_12mp_full_ms"] = per_image(camera[:2], lambda p: np.asarray(Image.open(p).convert("RGB")))
    out["decode_12mp_draft_ms"] = per_image(camera[:2], lambda p: np.asarray(decode(p, target=(size, size))))
    clive_imgs = [decode(p) for p in small]
    drafts = [decode(p, target=(size, size)) for p in camera[:2]]
    out["resize_clive_to_512_ms"] = per_image(clive_imgs, lambda im: resize(im, size, size, "crop", "bicubic"))
    out["resize_12mp_draft_to_512_ms"] = per_image(drafts, lambda im: resize(im, size, size, "crop", "bicubic"))
    frames = [np.asarray(resize(im, size, size, "crop", "bicubic")) for im in clive_imgs]
    out["copy_into_batch_ms"] = timed(lambda: np.stack(frames), min_s=0.5) / len(frames) * 1e3
    out["clive_total_ms"] = out["decode_clive_500px_ms"] + out["resize_clive_to_512_ms"] + out["copy_into_batch_ms"]
    out["camera_total_ms"] = (out["decode_12mp_draft_ms"] + out["resize_12mp_draft_to_512_ms"]
                              + out["copy_into_batch_ms"])
    return out


def pipeline_efficiency(rows: list[dict[str, Any]], pixels: dict[str, float], cores: int) -> list[dict[str, Any]]:
    """End-to-end throughput against n_cores / (model core time + pixel core time), the model's
    time taken from the model-only row that the same processes measured next to it."""
    out = []
    model = {(r["images"], r["precision"]): r for r in rows if r.get("images") and r["mode"] == "model"
             and not r["error"]}
    for r in rows:
        ref = model.get((r.get("images"), r["precision"]))
        if r["mode"] != "end_to_end" or r["error"] or ref is None:
            continue
        # The model's share of the cores: its measured CPU time per image where the row has it
        # (runtime/bench.py), else wall ms/img x the 2 threads it ran on - an overstatement when the
        # two threads do not keep both cores busy, which is how a pipeline came out at 111% of it.
        cpu_ms = ref.get("details", {}).get("cpu_ms_per_img")
        model_core_ms = cpu_ms if cpu_ms else 1e3 / ref["throughput"] * 2
        pixel_ms = pixels["clive_total_ms" if r["images"] == "clive" else "camera_total_ms"]
        bound = cores / (model_core_ms + pixel_ms) * 1e3
        out.append({"precision": r["precision"], "images": r["images"], "e2e_img_s": r["throughput"],
                    "model_only_img_s": ref["throughput"], "model_core_ms": model_core_ms,
                    "model_core_from": "cpu time" if cpu_ms else "wall x 2 threads",
                    "pixel_core_ms": pixel_ms, "bound_img_s": bound, "of_bound": r["throughput"] / bound})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clive", required=True, help="folder with the CLIVE photos (images/)")
    p.add_argument("--bundle", action="append", required=True, metavar="ALIAS=BUNDLE",
                   help="a lite bundle with every precision (the first gets the full grid)")
    p.add_argument("--cv", action="append", default=[], metavar="ALIAS=JSON", help="its cross-validated SRCC")
    p.add_argument("--out", default=str(RESULTS / "lite_bench.json"))
    p.add_argument("--skip-cost", action="store_true")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per bench (rows: the median)")
    args = p.parse_args()
    clive = Path(args.clive)
    bundles = dict(x.split("=", 1) for x in args.bundle)
    cvs = {k: cv_srcc(Path(v)) for k, v in (x.split("=", 1) for x in args.cv)}
    t0 = time.perf_counter()
    limits = machine_limits()
    print("machine:", {k: round(v, 1) for k, v in limits.items()}, flush=True)
    from edgeiqa.runtime.bench import machine_info

    result: dict[str, Any] = {"limits": limits, "cores": os.cpu_count(), "rounds": args.rounds,
                              "machine": machine_info(), "backbones": {}}
    with tempfile.TemporaryDirectory() as tmp:
        camera = make_camera_jpegs(clive, Path(tmp) / "camera")
        result["pixels"] = pixel_stages(clive, camera)
        print("pixels:", {k: round(v, 2) for k, v in result["pixels"].items()}, flush=True)
        for k, (alias, bundle) in enumerate(bundles.items()):
            manifest = json.loads((Path(bundle) / "manifest.json").read_text())
            rows = bench_bundle(Path(bundle), manifest.get("source_checkpoint"), k == 0, clive / "images",
                                Path(tmp) / "camera", args.rounds)
            srcc = cvs.get(alias, {})
            for r in rows:
                eager_prec = {"fp32": "fp32", "fp32-cl": "fp32"}.get(r["precision"]) if r["backend"] == "torch-eager" \
                    else r["precision"]
                r["cv_srcc"] = srcc.get(eager_prec) if eager_prec else None
            result["backbones"][alias] = {"bundle": bundle, "rows": rows, "cv": srcc}
            print(f"{alias}: {len(rows)} rows ({time.perf_counter() - t0:.0f}s)", flush=True)
        first = next(iter(bundles))
        result["pipeline"] = pipeline_efficiency(result["backbones"][first]["rows"], result["pixels"],
                                                 os.cpu_count() or 2)
    if not args.skip_cost:
        result["cost_growth"] = cost_growth(next(iter(bundles)), limits)
    result["seconds"] = time.perf_counter() - t0
    Path(args.out).write_text(json.dumps(result, indent=1, default=float))
    from lite_report import write_report

    write_report(result, Path(args.out).parent)
    print(f"done in {result['seconds']:.0f}s -> {args.out}")


if __name__ == "__main__":
    main()
