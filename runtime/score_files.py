"""Score image files (or raw YUV frames) into a results file: `edgeiqa score` without argparse.

What the command adds to `Scorer.score` - finding the images under folders, taking one shard of
them, skipping what the results file already holds, appending each result the moment it exists
(a killed job loses nothing), reading raw .yuv frames - lives here, so that a script or a cluster
job calls `score_files(ScoreFilesJob(...))` and gets what the command would have done. The CLI
(runtime/cli.py) parses flags into a job and prints the results it is handed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgeiqa.runtime.errors import EdgeIQAError
from edgeiqa.runtime.results_file import already_scored, ends_with_newline


class NothingToScoreError(EdgeIQAError):
    """No image was found under the paths given."""


@dataclass
class ScoreFilesJob:
    paths: list[str]  # image files or folders (walked recursively); with `yuv`, raw .yuv files
    bundle: str = "default"
    backend: str = "auto"
    device: str = "auto"
    precision: str | None = None  # None: the bundle's pick for this machine
    threads: int = 0
    cuda_graph: bool = False
    verify: bool = True  # the sha256 of the bundle's files
    batch: int = 16
    workers: int | None = None  # decode threads
    out: str | None = None  # JSON-lines results file, appended to
    resume: bool = False  # skip the paths `out` already holds
    shard: tuple[int, int] = (0, 1)  # (I, N): every N-th file of the sorted list, from the I-th
    yuv: str | None = None  # nv12 | i420: the paths are raw 4:2:0 files of `size`
    size: tuple[int, int] | None = None  # (height, width) of the raw frames
    yuv_matrix: str = "bt601"
    yuv_range: str = "limited"

    def validate(self) -> None:
        if self.yuv and not self.size:
            raise ValueError("--yuv needs --size WxH (a raw file does not say its frame size)")
        if self.batch < 1:
            raise ValueError(f"--batch must be >= 1, got {self.batch}")
        if self.resume and not self.out:
            raise ValueError("--resume needs --out FILE")


@dataclass
class ScoreFilesOutcome:
    scored: int = 0
    failed: int = 0
    skipped: int = 0  # already in the results file (resume)
    total: int = 0  # items this run set out to score


def files_of(job: ScoreFilesJob) -> list[str]:
    """The files this job (and shard) covers, in a stable order."""
    from edgeiqa.runtime.preprocess import find_images

    files = [str(f) for f in job.paths] if job.yuv else [str(f) for f in find_images(job.paths)]
    shard, shards = job.shard
    files = sorted(files)[shard::shards] if shards > 1 else files
    if not files:
        raise NothingToScoreError(f"no images found in {' '.join(map(str, job.paths))}")
    return files


def score_files(job: ScoreFilesJob, on_start: Callable[[Any, ScoreFilesOutcome], None] | None = None,
                on_result: Callable[[Any], None] | None = None) -> ScoreFilesOutcome:
    """Score the job's files; each result goes to `out` (a JSON line) and to `on_result`.

    `on_start(scorer, outcome)` runs once the bundle is loaded and the items are known (a caller
    prints a header or sizes a progress bar there). Raises EdgeIQAError (nothing found, a bundle
    that cannot load) or OSError/ValueError (unreadable raw frames) before anything is scored."""
    from edgeiqa.runtime.scorer import Scorer

    job.validate()
    files = files_of(job)
    outcome = ScoreFilesOutcome()
    out = Path(job.out) if job.out else None
    if job.resume and out is not None:
        done = already_scored(out)
        before = len(files)
        files = [f for f in files if f not in done]
        outcome.skipped = before - len(files)
        if not files:
            return outcome
    with Scorer.load(job.bundle, job.backend, job.device, job.precision, job.threads, cuda_graph=job.cuda_graph,
                     verify=job.verify) as scorer:
        items, names = (raw_frames(files, job.yuv, job.size, job.yuv_matrix, job.yuv_range, scorer)  # type: ignore[arg-type]
                        if job.yuv else (files, None))
        outcome.total = len(items)
        if on_start is not None:
            on_start(scorer, outcome)
        sink = open(out, "a") if out is not None else None
        if sink is not None and not ends_with_newline(out):  # type: ignore[arg-type]
            sink.write("\n")  # a killed run's torn last line must not swallow the next record
        try:
            for r in scorer.iter_scores(items, job.batch, job.workers, names):
                outcome.scored += r.ok
                outcome.failed += not r.ok
                if sink is not None:
                    sink.write(json.dumps(r.to_dict()) + "\n")
                    sink.flush()
                if on_result is not None:
                    on_result(r)
        finally:
            if sink is not None:
                sink.close()
    return outcome


def raw_frames(files: list[str], fmt: str, size: tuple[int, int], matrix: str, yuv_range: str, scorer: Any
               ) -> tuple[list[Any], list[str]]:
    """Frames of raw .yuv files as the bundle takes them, named FILE#K.

    A bundle exported for this very format, size and colour standard gets the planes untouched;
    any other bundle gets them converted to RGB by the runtime's numpy reference, then resized.
    """
    from edgeiqa.runtime.yuv import read_yuv_file, yuv420_to_rgb

    native = scorer.pixel_format != "rgb" and scorer.yuv == (fmt, matrix, yuv_range) \
        and (scorer.frame_height, scorer.frame_width) == size
    items, names = [], []
    for f in files:
        for k, planes in enumerate(read_yuv_file(f, size[1], size[0])):
            items.append(planes if native else yuv420_to_rgb(planes, fmt, matrix, yuv_range))
            names.append(f"{f}#{k}")
    return items, names
