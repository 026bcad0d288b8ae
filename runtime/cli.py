"""`edgeiqa score` and `edgeiqa info`: runtime-only commands (numpy, Pillow, onnxruntime)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeiqa.runtime.errors import EdgeIQAError

EXIT_OK, EXIT_NOTHING_RAN, EXIT_SOME_FAILED = 0, 1, 2


def main_score(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa score", description="Score images with a bundle. Exit code 0: every "
                                "image scored; 2: some could not be read (the rest scored); 1: nothing could run.")
    p.add_argument("paths", nargs="+", help="image files or folders (walked recursively)")
    p.add_argument("--bundle", required=True)
    p.add_argument("--backend", default="auto", choices=["auto", "onnxruntime", "tensorrt"])
    p.add_argument("--precision", default=None,
                   help="fp32, fp16, int8, int8-cpu, int8-dynamic (default: the most exact the bundle ships)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=None, help="decode threads")
    p.add_argument("--threads", type=int, default=0, help="inference library threads (0: its default)")
    p.add_argument("--json", action="store_true", help="JSON lines: {path, score} or {path, error}")
    args = p.parse_args(argv)
    from edgeiqa.runtime.preprocess import find_images
    from edgeiqa.runtime.scorer import Scorer

    files = find_images(args.paths)
    if not files:
        print(f"edgeiqa score: no images found in {' '.join(args.paths)}", file=sys.stderr)
        return EXIT_NOTHING_RAN
    try:
        scorer = Scorer.load(args.bundle, args.backend, args.device, args.precision, args.threads)
    except EdgeIQAError as err:
        print(f"edgeiqa score: {err}", file=sys.stderr)
        return EXIT_NOTHING_RAN
    n_ok = n_bad = 0
    if not args.json:
        scale = scorer.bundle.manifest["score"]["scale"]
        print(f"{'score':>8}  path   ({scorer.backend.name} {scorer.backend.precision}, "
              f"MOS {scale['lo']:g}..{scale['hi']:g}, higher is better)")
    for r in scorer.iter_scores([str(f) for f in files], args.batch, args.workers):
        n_ok += r.ok
        n_bad += not r.ok
        if args.json:
            print(json.dumps(r.to_dict()), flush=True)
        else:
            error = (r.error or "").removeprefix(f"{r.source}: ")
            print(f"{r.score:8.2f}  {r.source}" if r.ok else f"{'error':>8}  {r.source}: {error}", flush=True)
    if not args.json:
        print(f"{n_ok} scored, {n_bad} failed", file=sys.stderr)
    if n_ok == 0:
        return EXIT_NOTHING_RAN
    return EXIT_SOME_FAILED if n_bad else EXIT_OK


def main_info(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa info", description="Print a bundle's manifest and check its files.")
    p.add_argument("bundle")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from edgeiqa.runtime.bundle import load_bundle, verify_files
    from edgeiqa.runtime.info import format_manifest

    try:
        bundle = load_bundle(Path(args.bundle), verify=False)
    except EdgeIQAError as err:
        print(f"edgeiqa info: {err}", file=sys.stderr)
        return 1
    problem = None
    try:
        verify_files(bundle)
    except EdgeIQAError as err:
        problem = str(err)
    if args.json:
        print(json.dumps({**bundle.manifest, "verified": problem is None, "problem": problem}, indent=2))
    else:
        print(format_manifest(bundle.manifest))
        print(f"verified        {'all files match their sha256' if problem is None else 'NO: ' + problem}")
    return 0 if problem is None else 1
