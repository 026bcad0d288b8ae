"""`edgeiqa export CHECKPOINT --out BUNDLE`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from edgeiqa.runtime.cli_args import add_dataclass_flags, dataclass_from_flags
from edgeiqa.runtime.errors import EdgeIQAError


def export_parser() -> argparse.ArgumentParser:
    """The flags are ExportOptions' fields (export/options.py), grouped as the options are."""
    from edgeiqa.export.options import ExportOptions

    p = argparse.ArgumentParser(prog="edgeiqa export", description="Fold the head, bake preprocessing and write "
                                "an ONNX (+ TensorRT) bundle with a manifest the runtime checks.")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True, help="bundle folder, e.g. engines/NAME")
    p.add_argument("--model-card", default=None, help="JSON file recorded as the manifest's `trained_on`: dataset, "
                   "licence notice, cross-validated metrics (release/default_model_recipe.py writes one)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    add_dataclass_flags(p, ExportOptions)
    return p


def main_export(argv: list[str]) -> int:
    args = export_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from edgeiqa.export.exporter import export_bundle
    from edgeiqa.export.options import CardOptions, ExportOptions

    try:
        card = json.loads(Path(args.model_card).read_text()) if args.model_card else None
    except (OSError, json.JSONDecodeError) as err:
        print(f"edgeiqa export: --model-card {args.model_card}: {err}", file=sys.stderr)
        return 2
    opts = dataclass_from_flags(ExportOptions, args, card=CardOptions(model_card=card))
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
