"""`edgeiqa derive BUNDLE --out B2 --input nv12 --frame 1920x1080`: a camera variant, no checkpoint, no torch."""

from __future__ import annotations

import argparse
import sys

from edgeiqa.runtime.cli_args import frame_size


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
    from edgeiqa.export.derive import CameraInput, derive_bundle
    from edgeiqa.runtime.errors import EdgeIQAError

    fh, fw = args.frame or (0, 0)
    cam = CameraInput(args.pixel_format, fh, fw, args.yuv_matrix, args.yuv_range)
    try:
        manifest = derive_bundle(args.bundle, args.out, cam, args.static_batch, args.force)
    except (EdgeIQAError, OSError, ValueError) as err:
        print(f"edgeiqa derive: {err}", file=sys.stderr)
        return 1
    check = manifest["derived_from"]["check"]
    print(f"{args.out}: {args.pixel_format} {f'{fw}x{fh}' if fw else ''}, graphs "
          f"{', '.join(m['precision'] for m in manifest['models'])}; reference pictures within "
          f"{100 * check['max_abs_fraction_of_range']:.2f}% of the score range of the RGB bundle "
          f"(tolerance {100 * check['tolerance']:.0f}%)")
    return 0
