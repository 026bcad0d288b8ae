"""`edgeiqa export CHECKPOINT --out BUNDLE`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from edgeiqa.runtime.cli_args import frame_size, positive_ints
from edgeiqa.runtime.errors import EdgeIQAError


def _names(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def main_export(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa export", description="Fold the head, bake preprocessing and write "
                                "an ONNX (+ TensorRT) bundle with a manifest the runtime checks.")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True, help="bundle folder, e.g. engines/NAME")
    p.add_argument("--precision", default="fp32",
                   help="comma list of fp32,fp16,int8,int8-cpu,int8-cpu-avx2,int8-dynamic")
    p.add_argument("--ship", default=None, help="precisions to keep in the bundle (default: all); e.g. int8 "
                   "for a small bundle, fp32 still being built to measure its error")
    p.add_argument("--calib", default=None, help="calibration images for int8 (default: training sample)")
    p.add_argument("--calib-count", type=int, default=64)
    p.add_argument("--prune", type=float, default=0.0, help="drop (channel, activation) pairs with weight < EPS")
    p.add_argument("--float-input", action="store_true", help="float NCHW normalised input instead of uint8 NHWC")
    p.add_argument("--trt", action="store_true", help="also build TensorRT engines (on the target GPU)")
    p.add_argument("--batch", type=positive_ints, default=(1, 8, 32), help="TensorRT profile min,opt,max batch")
    p.add_argument("--triton", default=None, help="also write a Triton model repository here")
    p.add_argument("--force", action="store_true", help="replace an existing bundle at --out")
    p.add_argument("--tf32", action="store_true", help="--trt: let fp32 engines use TF32 (off: fp32 means fp32)")
    p.add_argument("--trt-version-compatible", action="store_true",
                   help="--trt: version-compatible plans, loadable by the lean runtime (tensorrt_lean) and later "
                        "TensorRT versions (slower)")
    p.add_argument("--static-batch", type=int, default=0, metavar="N",
                   help="fixed batch N instead of a dynamic one (DLA, SoCs); the TensorRT profile is then N,N,N")
    p.add_argument("--no-check", action="store_true", help="record the export errors without enforcing their "
                   "tolerances (edgeiqa.export.checks)")
    p.add_argument("--model-card", default=None, help="JSON file recorded as the manifest's `trained_on`: dataset, "
                   "licence notice, cross-validated metrics (release/default_model_recipe.py writes one)")
    p.add_argument("--input", default="rgb", choices=["rgb", "nv12", "i420"], dest="pixel_format",
                   help="what the graph takes: RGB frames, or a camera's raw NV12 / I420 planes with the colour "
                        "conversion and the resize baked in")
    p.add_argument("--frame", type=frame_size, default=None, metavar="WxH",
                   help="with --input nv12|i420: the camera's frame size, e.g. 1920x1080 (default: the model's); "
                        "the crop-rule downscale then runs inside the graph")
    p.add_argument("--yuv-matrix", default="bt601", choices=["bt601", "bt709"])
    p.add_argument("--yuv-range", default="limited", choices=["limited", "full"])
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from edgeiqa.export.exporter import ExportOptions, export_bundle

    if len(args.batch) != 3:
        print("edgeiqa export: --batch takes min,opt,max", file=sys.stderr)
        return 2
    opts = ExportOptions(precisions=tuple(x.strip() for x in args.precision.split(",") if x.strip()),
                         calib=args.calib, calib_count=args.calib_count, prune=args.prune,
                         float_input=args.float_input, trt=args.trt, trt_batch=args.batch, triton=args.triton,
                         force=args.force, ship=tuple(_names(args.ship)) if args.ship else None,
                         check=not args.no_check, static_batch=args.static_batch, tf32=args.tf32,
                         trt_version_compatible=args.trt_version_compatible, pixel_format=args.pixel_format,
                         frame=args.frame, yuv_matrix=args.yuv_matrix, yuv_range=args.yuv_range)
    try:
        if args.model_card:
            opts.model_card = json.loads(Path(args.model_card).read_text())
    except (OSError, json.JSONDecodeError) as err:
        print(f"edgeiqa export: --model-card {args.model_card}: {err}", file=sys.stderr)
        return 2
    try:
        res = export_bundle(args.checkpoint, args.out, opts)
    except EdgeIQAError as err:
        print(f"edgeiqa export: {err}", file=sys.stderr)
        return 1
    m = res.manifest
    if args.json:
        print(json.dumps(m, indent=2))
    else:
        from edgeiqa.runtime.info import format_manifest

        print(format_manifest(m))
    print(f"bundle: {res.bundle}")
    for note in res.notes:
        if "NOT CHECKED" in note:
            print(f"edgeiqa export: warning: {note}", file=sys.stderr)
    if res.trt_error:
        print(f"edgeiqa export: --trt: {res.trt_error} (the ONNX bundle was written)", file=sys.stderr)
        return 3
    return 0
