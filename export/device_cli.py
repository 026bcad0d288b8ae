"""`edgeiqa derive` (a camera variant of a bundle), `edgeiqa quantize` (fp16 / int8 graphs into a copy of it) and
`edgeiqa engine` (TensorRT engines into it): no torch."""

from __future__ import annotations

import argparse
import sys

from edgeiqa.runtime.cli_args import comma_list, frame_size, positive_ints


def main_derive(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa derive", description="Make a camera variant of a bundle: its graphs "
                                "take the camera's raw NV12 / I420 planes at a fixed frame size, with the colour "
                                "conversion and the resize composed in front (float in every precision). Needs onnx "
                                "and onnxruntime, not torch. The derived fp32 graph must score the bundle's "
                                "reference pictures within 2% of the score range of the RGB bundle, or nothing is "
                                "written. Exit 0: written; 1: refused.")
    p.add_argument("bundle", help="an RGB bundle folder, or 'default' (the model installed with edgeiqa)")
    p.add_argument("--out", required=True, help="the new bundle folder")
    p.add_argument("--input", default="nv12", choices=["nv12", "i420", "rgb"], dest="pixel_format",
                   help="nv12 / i420: the camera's planes; rgb: the same input with --static-batch")
    p.add_argument("--frame", type=frame_size, default=None, metavar="WxH", help="nv12 / i420: the camera's frame "
                   "size, e.g. 1920x1080")
    p.add_argument("--yuv-matrix", default="bt601", choices=["bt601", "bt709"])
    p.add_argument("--yuv-range", default="limited", choices=["limited", "full"])
    p.add_argument("--static-batch", type=int, default=0, metavar="N", help="a fixed batch N (DLA, SoCs)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    args = p.parse_args(argv)
    from edgeiqa.export.derive import derive_bundle
    from edgeiqa.runtime.errors import EdgeIQAError

    fh, fw = args.frame or (0, 0)
    try:
        manifest = derive_bundle(args.bundle, args.out, args.pixel_format, args.frame, args.yuv_matrix,
                                 args.yuv_range, args.static_batch, args.force)
    except (EdgeIQAError, OSError, ValueError) as err:
        print(f"edgeiqa derive: {err}", file=sys.stderr)
        return 1
    check = manifest["derived_from"]["check"]
    print(f"{args.out}: {args.pixel_format} {f'{fw}x{fh}' if fw else ''}, graphs "
          f"{', '.join(m['precision'] for m in manifest['models'])}; front end within "
          f"{100 * check['max_abs_fraction_of_range']:.2f}% of the score range of the RGB bundle on the same planes "
          f"(tolerance {100 * check['tolerance']:.0f}%)")
    loss = manifest["derived_from"].get("yuv420")
    if loss:  # what the 4:2:0 format costs this model: reported, never a gate
        print(f"  4:2:0 vs the RGB pictures the reference planes came from: up to "
              f"{100 * loss['max_abs_fraction_of_range']:.2f}% (mean {100 * loss['mean_abs_fraction_of_range']:.2f}%) "
              "of the score range")
    return 0


def main_quantize(argv: list[str]) -> int:
    from edgeiqa.export.precision_entry import REDUCED_PRECISIONS

    p = argparse.ArgumentParser(prog="edgeiqa quantize", description="Add fp16 or int8 graphs to a copy of a bundle, "
                                "made from its fp32 graph with ONNX Runtime's converters and calibrated on your own "
                                "photos: no checkpoint, no torch (onnx and onnxruntime). Each graph is measured "
                                "against fp32 on held-out photos and the bundle's reference frames, and is never "
                                "picked by Scorer.load unless --auto-pick: name it with --precision. Exit 0: "
                                "written; 1: refused.")
    p.add_argument("bundle", help="an RGB bundle folder, or 'default' (the model installed with edgeiqa)")
    p.add_argument("--out", required=True, help="the new bundle folder")
    p.add_argument("--precision", type=comma_list, required=True,
                   help=f"comma list of {', '.join(REDUCED_PRECISIONS)}")
    p.add_argument("--calib", required=True, metavar="DIR", help="photos from the camera the graph is for "
                   "(calibration, and the held-out check)")
    p.add_argument("--calib-count", type=int, default=64, metavar="N", help="photos that calibrate int8 (default 64)")
    p.add_argument("--check-count", type=int, default=64, metavar="N", help="further photos that measure every new "
                   "graph against fp32 (default 64)")
    p.add_argument("--seed", type=int, default=0, help="which photos calibrate and which check")
    p.add_argument("--auto-pick", action="store_true", help="let Scorer.load pick the new graphs where the CPU "
                   "prefers them (only after you have checked their error)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    args = p.parse_args(argv)
    from edgeiqa.export.bundle_quantize import quantize_bundle
    from edgeiqa.runtime.errors import EdgeIQAError

    try:
        quantize_bundle(args.bundle, args.out, tuple(args.precision), args.calib, args.calib_count,
                        args.check_count, args.seed, args.auto_pick, args.force)
    except (EdgeIQAError, OSError, ValueError) as err:
        print(f"edgeiqa quantize: {err}", file=sys.stderr)
        return 1
    print(f"{args.out}: written")
    return 0


def main_engine(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa engine", description="Build TensorRT engines into a bundle from its "
                                "own graphs, on the target device. Each engine is accepted only if it scores the "
                                "bundle's reference frames within its precision's tolerance (edgeiqa verify); a "
                                "refused engine is deleted. Exit 0: all accepted; 1: some refused or failed; "
                                "2: TensorRT or a GPU is missing.")
    p.add_argument("bundle", help="a bundle folder (copy the installed default first: it is read-only package data)")
    p.add_argument("--precision", type=comma_list, default=None, help="comma list of fp32,fp16,int8 (default: fp16, "
                   "and int8 where the bundle has an int8 graph: `edgeiqa quantize` makes one)")
    p.add_argument("--batch", type=positive_ints, default=None, metavar="MIN,OPT,MAX",
                   help="the optimisation profile (default: 1,8,32 for RGB; for a camera bundle 1,1,N with N "
                        "frames' float tensors under 256 MB; a fixed-batch bundle its batch)")
    p.add_argument("--version-compatible", action="store_true", help="plans the lean runtime and later TensorRT "
                   "versions can load (slower)")
    args = p.parse_args(argv)
    if args.batch is not None and (len(args.batch) != 3 or list(args.batch) != sorted(args.batch)):
        p.error(f"--batch takes MIN,OPT,MAX with MIN <= OPT <= MAX, got {','.join(map(str, args.batch))}")
    from edgeiqa.export.engine import build_engines
    from edgeiqa.runtime.errors import BackendUnavailableError, EdgeIQAError

    try:
        outcomes = build_engines(args.bundle, tuple(args.precision) if args.precision else None, args.batch,
                                 args.version_compatible)
    except BackendUnavailableError as err:
        print(f"edgeiqa engine: {err}", file=sys.stderr)
        return 2
    except (EdgeIQAError, OSError, ValueError) as err:
        print(f"edgeiqa engine: {err}", file=sys.stderr)
        return 1
    for o in outcomes:
        print(f"{o.precision:<6} {o.file or '-':<48} {o.detail}")
    return 0 if all(o.accepted for o in outcomes) else 1
