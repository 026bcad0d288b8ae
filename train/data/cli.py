"""`edgeiqa data check NAME --root DIR` and `edgeiqa data synth --out DIR`."""

from __future__ import annotations

import argparse
import json
import sys

from edgeiqa.runtime.errors import EdgeIQAError
from edgeiqa.train.registry import UnknownNameError


def main_data(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa data", description="Dataset tools.")
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("check", help="report rows, images found/missing and the MOS range of a dataset copy")
    c.add_argument("name", help="koniq10k, clive, kadid10k, agiqa3k, agiqa1k, spaq, flive, csv, synthetic")
    c.add_argument("--root", required=True, help="folder the dataset was extracted to")
    c.add_argument("--csv", default="", help="for NAME=csv: the CSV file (path,mos)")
    c.add_argument("--json", action="store_true", help="end with one JSON object")
    s = sub.add_parser("synth", help="build the synthetic set (KADID-style distortions, SSIM or level labels)")
    s.add_argument("--out", required=True)
    s.add_argument("--refs", default=None, help="folder of clean images (default: scikit-image's photos)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", type=int, default=192, help="crop size in pixels")
    s.add_argument("--crops", type=int, default=3, help="crops per reference photo")
    s.add_argument("--labels", default="ssim", choices=("ssim", "level"),
                   help="MOS = 100 x SSIM vs the clean crop, or 100 - 18 x level")
    args = p.parse_args(argv)
    if args.action == "synth":
        from edgeiqa.train.data.synthetic import build_synthetic

        try:
            path = build_synthetic(args.out, args.refs, args.seed, args.size, args.crops, labels=args.labels)
        except (FileNotFoundError, EdgeIQAError) as err:
            print(f"edgeiqa data synth: {err}", file=sys.stderr)
            return 1
        print(f"wrote {path}")
        return 0
    from edgeiqa.train.data.registry import load_dataset

    try:
        ds = load_dataset(args.name, args.root, **({"csv": args.csv} if args.csv else {}))
    except (EdgeIQAError, UnknownNameError) as err:
        print(f"edgeiqa data check: {err}", file=sys.stderr)
        if args.json:
            print(json.dumps({"dataset": args.name, "root": args.root, "usable": False, "error": str(err)}))
        return 1
    report = ds.report()
    print(report.text())
    if args.json:
        print(json.dumps(report.to_dict()))
    return 0 if report.usable else 1
