"""`edgeiqa score` and `edgeiqa info`: runtime-only commands (numpy, Pillow, onnxruntime)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edgeiqa.runtime.errors import EdgeIQAError

EXIT_OK, EXIT_NOTHING_RAN, EXIT_SOME_FAILED = 0, 1, 2


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' (0 <= I < N): this process scores every N-th file starting at I of the sorted list."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes I/N, e.g. 0/4; got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard I/N needs 0 <= I < N; got {text!r}")
    return i, n


def already_scored(path: Path) -> set[str]:
    """Paths an earlier (possibly killed) run wrote to this JSON-lines file; a torn last line is ignored."""
    done: set[str] = set()
    if not path.is_file():
        return done
    for line in path.read_text(errors="replace").splitlines():
        try:
            done.add(json.loads(line)["path"])
        except (ValueError, KeyError, TypeError):
            continue
    return done


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        if fh.seek(0, 2) == 0:
            return True
        fh.seek(-1, 2)
        return fh.read(1) == b"\n"


class Progress:
    """A one-line count and rate on stderr, at most once a second (the runtime has no tqdm)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.done = total, enabled, 0
        self.t0 = self.last = time.perf_counter()

    def step(self) -> None:
        self.done += 1
        now = time.perf_counter()
        if self.enabled and (now - self.last >= 1.0 or self.done == self.total):
            self.last = now
            rate = self.done / max(now - self.t0, 1e-9)
            print(f"\rscored {self.done}/{self.total} ({rate:.1f} img/s)", end="", file=sys.stderr, flush=True)
            if self.done == self.total:
                print(file=sys.stderr)


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
    p.add_argument("--out", default=None, help="append JSON lines to this file as images are scored")
    p.add_argument("--resume", action="store_true", help="with --out: skip the images it already holds")
    p.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="I/N",
                   help="score only every N-th image from the I-th of the sorted list (cluster array jobs)")
    p.add_argument("--cuda-graph", action="store_true", help="TensorRT: replay each batch size as a CUDA graph")
    p.add_argument("--no-verify", action="store_true", help="skip the sha256 check of the bundle's files")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    args = p.parse_args(argv)
    if args.batch < 1:
        p.error(f"--batch must be >= 1, got {args.batch}")
    if args.resume and not args.out:
        p.error("--resume needs --out FILE")
    from edgeiqa.runtime.preprocess import find_images
    from edgeiqa.runtime.scorer import Scorer

    shard, shards = args.shard
    files = [str(f) for f in find_images(args.paths)]
    files = sorted(files)[shard::shards] if shards > 1 else files
    if not files:
        print(f"edgeiqa score: no images found in {' '.join(args.paths)}", file=sys.stderr)
        return EXIT_NOTHING_RAN
    out = Path(args.out) if args.out else None
    if args.resume and out is not None:
        done = already_scored(out)
        skipped = len(files)
        files = [f for f in files if f not in done]
        print(f"resume: {skipped - len(files)} already in {out}, {len(files)} to go", file=sys.stderr)
        if not files:
            return EXIT_OK
    try:
        scorer = Scorer.load(args.bundle, args.backend, args.device, args.precision, args.threads,
                             cuda_graph=args.cuda_graph, verify=not args.no_verify)
    except EdgeIQAError as err:
        print(f"edgeiqa score: {err}", file=sys.stderr)
        return EXIT_NOTHING_RAN
    n_ok = n_bad = 0
    quiet_stdout = out is not None and not args.json
    if not args.json and not quiet_stdout:
        scale = scorer.bundle.manifest["score"]["scale"]
        print(f"{'score':>8}  path   ({scorer.backend.name} {scorer.backend.precision}, "
              f"MOS {scale['lo']:g}..{scale['hi']:g}, higher is better)")
    progress = Progress(len(files), enabled=not args.quiet and (out is not None or not sys.stdout.isatty()))
    sink = open(out, "a") if out is not None else None
    if sink is not None and not _ends_with_newline(out):
        sink.write("\n")  # a killed run's torn last line must not swallow the next record
    try:
        for r in scorer.iter_scores(files, args.batch, args.workers):
            n_ok += r.ok
            n_bad += not r.ok
            line = json.dumps(r.to_dict())
            if sink is not None:
                sink.write(line + "\n")
                sink.flush()
            if args.json:
                print(line, flush=True)
            elif not quiet_stdout:
                error = (r.error or "").removeprefix(f"{r.source}: ")
                print(f"{r.score:8.2f}  {r.source}" if r.ok else f"{'error':>8}  {r.source}: {error}", flush=True)
            progress.step()
    finally:
        if sink is not None:
            sink.close()
        scorer.close()
    if not args.json:
        print(f"{n_ok} scored, {n_bad} failed", file=sys.stderr)
    if n_ok == 0:
        return EXIT_NOTHING_RAN
    return EXIT_SOME_FAILED if n_bad else EXIT_OK


def main_select(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa select", description="Pick the best frames of a burst: the top K "
                                "images by score, best first (exit 2 if some frames could not be read).")
    p.add_argument("paths", nargs="+", help="the burst: image files or a folder")
    p.add_argument("--bundle", required=True)
    p.add_argument("--top", type=int, default=1, help="how many frames to keep")
    p.add_argument("--backend", default="auto", choices=["auto", "onnxruntime", "tensorrt"])
    p.add_argument("--json", action="store_true", help="JSON lines: {rank, path, score}")
    args = p.parse_args(argv)
    if args.top < 1:
        p.error(f"--top must be >= 1, got {args.top}")
    from edgeiqa.runtime.preprocess import find_images
    from edgeiqa.runtime.scorer import Scorer, rank_results

    files = [str(f) for f in find_images(args.paths)]
    if not files:
        print(f"edgeiqa select: no images found in {' '.join(args.paths)}", file=sys.stderr)
        return EXIT_NOTHING_RAN
    try:
        with Scorer.load(args.bundle, args.backend) as scorer:
            results = scorer.score(files)
    except EdgeIQAError as err:
        print(f"edgeiqa select: {err}", file=sys.stderr)
        return EXIT_NOTHING_RAN
    ranked = [results[i] for i in rank_results(results)[:args.top]]
    for rank, r in enumerate(ranked, 1):
        print(json.dumps({"rank": rank, "path": r.source, "score": r.score}) if args.json
              else f"{rank:>3}  {r.score:8.2f}  {r.source}")
    for r in results:
        if not r.ok:
            print(f"edgeiqa select: {r.error}", file=sys.stderr)
    if not ranked:
        return EXIT_NOTHING_RAN
    return EXIT_SOME_FAILED if len(ranked) < min(args.top, len(results)) or any(not r.ok for r in results) \
        else EXIT_OK


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
