"""`edgeiqa score` and `edgeiqa info`: runtime-only commands (numpy, Pillow, onnxruntime)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from edgeiqa.runtime.cli_args import add_yuv_input_args
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


def score_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeiqa score", description="Score images with a bundle. Exit code 0: every "
                                "image scored; 2: some could not be read (the rest scored); 1: nothing could run.")
    p.add_argument("paths", nargs="+", help="image files or folders (walked recursively)")
    p.add_argument("--bundle", default="default", help="bundle folder (default: the model installed with edgeiqa)")
    p.add_argument("--backend", default="auto", choices=["auto", "onnxruntime", "tensorrt"])
    p.add_argument("--precision", default=None,
                   help="fp32, fp16, int8, int8-cpu, int8-cpu-avx2, int8-dynamic (default: the fastest graph "
                        "exact on this CPU, runtime/cpu_class.py)")
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
    p.add_argument("--ray", action="store_true", help="score on a Ray cluster with Ray Data (pip install "
                   "edgeiqa[ray]): one Scorer per actor; needs --out FILE.parquet|FILE.jsonl; resumes by path; "
                   "PATHS may also be Parquet/CSV manifests with a `path` column")
    p.add_argument("--ray-address", default=None, help="with --ray: the cluster (auto, ray://HOST:10001); "
                   "default: a local Ray instance on this machine")
    p.add_argument("--ray-actors", type=int, default=None, help="with --ray: scoring actors (default: one per CPU)")
    add_yuv_input_args(p, "one or more frames each")
    return p


def main_score(argv: list[str]) -> int:
    """Flags -> a ScoreFilesJob (runtime/score_files.py does the work) -> the results, printed."""
    from edgeiqa.runtime.score_files import ScoreFilesJob, score_files

    p = score_parser()
    args = p.parse_args(argv)
    if args.ray:
        return _score_with_ray(p, args)
    job = ScoreFilesJob(args.paths, args.bundle, args.backend, args.device, args.precision, args.threads,
                        args.cuda_graph, not args.no_verify, args.batch, args.workers, args.out, args.resume,
                        args.shard, args.yuv, args.size, args.yuv_matrix, args.yuv_range)
    try:
        job.validate()
    except ValueError as err:
        p.error(str(err))
    to_stdout = args.json or args.out is None  # with --out and no --json, stdout stays quiet
    progress = Progress(0, enabled=not args.quiet and (args.out is not None or not sys.stdout.isatty()))

    def start(scorer: Any, outcome: Any) -> None:
        if outcome.skipped:
            print(f"resume: {outcome.skipped} already in {args.out}, {outcome.total} to go", file=sys.stderr)
        progress.total = outcome.total
        if to_stdout and not args.json:
            scale = scorer.bundle.manifest["score"]["scale"]
            print(f"{'score':>8}  path   ({scorer.backend.name} {scorer.backend.precision}, "
                  f"MOS {scale['lo']:g}..{scale['hi']:g}, higher is better)")

    def show(r: Any) -> None:
        if args.json:
            print(json.dumps(r.to_dict()), flush=True)
        elif to_stdout:
            error = (r.error or "").removeprefix(f"{r.source}: ")
            print(_plain_line(r) if r.ok else f"{'error':>8}  {r.source}: {error}", flush=True)
        progress.step()

    try:
        outcome = score_files(job, start, show)
    except (EdgeIQAError, OSError, ValueError) as err:
        print(f"edgeiqa score: {err}", file=sys.stderr)
        return EXIT_NOTHING_RAN
    if outcome.total == 0 and outcome.skipped:
        print(f"resume: {outcome.skipped} already in {args.out}, 0 to go", file=sys.stderr)
        return EXIT_OK
    if not args.json:
        print(f"{outcome.scored} scored, {outcome.failed} failed", file=sys.stderr)
    if outcome.scored == 0:
        return EXIT_NOTHING_RAN
    return EXIT_SOME_FAILED if outcome.failed else EXIT_OK


def _score_with_ray(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if not args.out:
        p.error("--ray needs --out FILE.parquet or FILE.jsonl")
    if args.yuv or args.shard != (0, 1):
        p.error("--ray takes image files, folders and manifests (no --yuv, no --shard: Ray spreads the work)")
    try:
        from edgeiqa.runtime.ray_scoring import score_with_ray
    except ImportError as err:
        print(f"edgeiqa score: --ray needs Ray Data ({err}); pip install 'edgeiqa[ray]'", file=sys.stderr)
        return EXIT_NOTHING_RAN
    try:
        counts = score_with_ray(args.paths, args.out, args.bundle, args.ray_address, args.ray_actors, args.batch,
                                args.precision, args.threads, progress=not args.quiet)
    except (EdgeIQAError, OSError, ValueError) as err:
        print(f"edgeiqa score: {err}", file=sys.stderr)
        return EXIT_NOTHING_RAN
    print(f"{counts['scored']} scored, {counts['failed']} failed, {counts['skipped']} already in {args.out}",
          file=sys.stderr)
    if counts["scored"] == 0 and counts["skipped"] == 0:
        return EXIT_NOTHING_RAN
    return EXIT_SOME_FAILED if counts["failed"] else EXIT_OK


def _plain_line(r: Any) -> str:
    """`  52.31  photo.jpg` plus, when the bundle gives them, its category and the fault behind it."""
    extra = [x for x in (r.category, f"p{r.percentile:.0f}" if r.percentile is not None else None,
                         f"({r.reason})" if r.reason else None) if x]
    return f"{r.score:8.2f}  {r.source}" + (f"  {' '.join(extra)}" if extra else "")


def main_select(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa select", description="Pick the best frames. A burst: the top K "
                                "images by score, best first. A stream (--window or --window-ms): the frames in "
                                "path order (or a raw .yuv video with --yuv), the best of each window and every frame "
                                "under --threshold, as they come. Exit 2 if some frames could not be read.")
    p.add_argument("paths", nargs="+", help="the burst or stream: image files, a folder, or .yuv files with --yuv")
    p.add_argument("--bundle", required=True)
    p.add_argument("--top", type=int, default=1, help="burst: how many frames to keep")
    p.add_argument("--window", type=int, default=None, help="stream: the best frame of every N frames")
    p.add_argument("--window-ms", type=float, default=None, help="stream: the best frame of every T milliseconds")
    p.add_argument("--fps", type=float, default=30.0, help="stream: frame rate that gives each frame its timestamp")
    p.add_argument("--threshold", default=None,
                   help="stream: report frames scoring under this: a score (45), a category of the rating scale "
                        "(fair: under the lower edge of fair) or a percentile of rated photos (p10 or 10%%); "
                        "broken frames are reported whatever their score")
    add_yuv_input_args(p, "a video: its frames in order")
    p.add_argument("--backend", default="auto", choices=["auto", "onnxruntime", "tensorrt"])
    p.add_argument("--json", action="store_true", help="JSON lines: {rank, path, score} or stream events")
    args = p.parse_args(argv)
    if args.top < 1:
        p.error(f"--top must be >= 1, got {args.top}")
    if args.yuv and not args.size:
        p.error("--yuv needs --size WxH")
    if args.window is not None and args.window_ms is not None:
        p.error("give one of --window and --window-ms")
    stream = args.window is not None or args.window_ms is not None
    if args.fps <= 0:
        p.error(f"--fps must be > 0, got {args.fps}")
    from edgeiqa.runtime.preprocess import find_images
    from edgeiqa.runtime.scorer import Scorer, rank_results

    files = [str(f) for f in (args.paths if args.yuv else find_images(args.paths))]
    if not files:
        print(f"edgeiqa select: no images found in {' '.join(args.paths)}", file=sys.stderr)
        return EXIT_NOTHING_RAN
    try:
        with Scorer.load(args.bundle, args.backend) as scorer:
            from edgeiqa.runtime.score_files import raw_frames

            items, names = (raw_frames(files, args.yuv, args.size, args.yuv_matrix, args.yuv_range, scorer)
                            if args.yuv else (files, files))
            if stream:
                return _select_stream(scorer, items, names, args)
            results = scorer.score(items)
    except (EdgeIQAError, OSError, ValueError) as err:
        print(f"edgeiqa select: {err}", file=sys.stderr)
        return EXIT_NOTHING_RAN
    ranked = [(names[i], results[i]) for i in rank_results(results)[:args.top]]
    for rank, (name, r) in enumerate(ranked, 1):
        print(json.dumps({"rank": rank, "path": name, "score": r.score}) if args.json
              else f"{rank:>3}  {r.score:8.2f}  {name}")
    for r in results:
        if not r.ok:
            print(f"edgeiqa select: {r.error}", file=sys.stderr)
    if not ranked:
        return EXIT_NOTHING_RAN
    return EXIT_SOME_FAILED if len(ranked) < min(args.top, len(results)) or any(not r.ok for r in results) \
        else EXIT_OK


def _select_stream(scorer: Any, items: list[Any], names: list[str], args: argparse.Namespace) -> int:
    """Push the frames through a FrameSelector in order and print each event as it happens."""
    from edgeiqa.runtime.frame_selector import FrameSelector

    selector = FrameSelector(scorer, args.window, args.window_ms, args.threshold)
    n_best = n_bad = 0
    for k, item in enumerate(items):
        events = selector.push(item, timestamp_ms=1000.0 * k / args.fps)
        for e in events + (selector.flush() if k == len(items) - 1 else []):
            n_best += e.kind == "best"
            n_bad += e.kind == "unreadable"
            record = {"event": e.kind, "path": names[e.index], "index": e.index, "score": e.score}
            if e.reason:
                record["reason"] = e.reason
            if e.window:
                record["window"] = [names[e.window[0]], names[e.window[1]]]
            if e.error:
                record["error"] = e.error
            if args.json:
                print(json.dumps(record), flush=True)
            else:
                where = f"  (frames {e.window[0]}..{e.window[1]})" if e.window else ""
                score = f"{e.score:8.2f}" if e.score is not None else f"{'-':>8}"
                why = f"  ({e.reason})" if e.reason else ""
                print(f"{e.kind:<10} {score}  {names[e.index]}{where}{why}", flush=True)
    if n_best == 0:
        return EXIT_NOTHING_RAN
    return EXIT_SOME_FAILED if n_bad else EXIT_OK


def this_cpu_line(bundle: Any) -> str:
    """The CPU's int8 class and the graph ONNX Runtime would run here without --precision."""
    from edgeiqa.runtime import cpu_class
    from edgeiqa.runtime.precision_choice import auto_onnx_model

    cpu = cpu_class.detect()
    picked = auto_onnx_model(bundle.find("onnx"), "cpu")
    return (f"this CPU        {cpu.model}: {cpu.cpu_class} ({cpu_class.DESCRIPTIONS[cpu.cpu_class]}); "
            f"ONNX Runtime runs {picked[0].file if picked else 'nothing (no ONNX graph)'} here")


def main_info(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa info", description="Print a bundle's manifest and check its files.")
    p.add_argument("bundle")
    p.add_argument("--json", action="store_true")
    p.add_argument("--c-header", default=None, metavar="FILE", help="write the bundle's edgeiqa_bundle.h here (C "
                   "constants for firmware; bundles exported with this edgeiqa carry it already)")
    args = p.parse_args(argv)
    from edgeiqa.runtime.bundle import load_bundle, verify_files
    from edgeiqa.runtime.info import format_manifest

    try:
        bundle = load_bundle(Path(args.bundle), verify=False)
    except EdgeIQAError as err:
        print(f"edgeiqa info: {err}", file=sys.stderr)
        return 1
    if args.c_header:
        from edgeiqa.runtime.c_header import c_header

        Path(args.c_header).write_text(c_header(bundle.manifest))
    problem = None
    try:
        verify_files(bundle)
    except EdgeIQAError as err:
        problem = str(err)
    if args.json:
        print(json.dumps({**bundle.manifest, "verified": problem is None, "problem": problem}, indent=2))
    else:
        print(format_manifest(bundle.manifest))
        print(this_cpu_line(bundle))
        print(f"verified        {'all files match their sha256' if problem is None else 'NO: ' + problem}")
    return 0 if problem is None else 1


def main_verify(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="edgeiqa verify", description="Score the bundle's reference frames with each "
                                "graph on this machine and compare with the fp32 scores recorded at export. "
                                "Exit 0: all within tolerance; 1: one past it; 2: nothing could run.")
    p.add_argument("bundle")
    p.add_argument("--backend", default="auto", choices=["auto", "onnxruntime", "tensorrt"])
    p.add_argument("--precision", default=None, help="comma list (default: every graph the bundle ships)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--record", action="store_true", help="append this CPU's results to each graph's `checked_on` "
                   "in the manifest")
    p.add_argument("--emulated", default=None, metavar="NAME", help="with --record: the emulator this ran under")
    args = p.parse_args(argv)
    from edgeiqa.runtime import verify

    precisions = [x.strip() for x in args.precision.split(",") if x.strip()] if args.precision else None
    try:
        rows, cpu = verify.verify_bundle(args.bundle, args.backend, precisions, args.device, args.threads)
    except EdgeIQAError as err:
        print(f"edgeiqa verify: {err}", file=sys.stderr)
        return 2
    from edgeiqa.runtime.bundle import load_bundle
    from edgeiqa.runtime.reference import load_reference

    count = len(load_reference(load_bundle(args.bundle, verify=False)).names)
    print(verify.rows_json(rows, cpu) if args.json else verify.format_rows(rows, cpu, count))
    if args.record:
        verify.record(args.bundle, rows, cpu, count, args.emulated)
    return verify.exit_code(rows)
