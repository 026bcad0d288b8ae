"""The one threaded frame loader: a pool decodes chunk i+1 while the caller works on chunk i.

Scoring, prediction, training and the embedding cache all load frames through it. Pillow releases
the GIL while decoding and resizing, so threads overlap with each other and with the inference
library's own threads. Results come back in input order; one bad item never ends a chunk.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator, Sequence, TypeVar

import numpy as np
from edgeiqa.runtime.errors import ImageDecodeError

T = TypeVar("T")
Loader = Callable[[T], np.ndarray]
Loaded = list  # per item: the frame, or the ImageDecodeError it raised


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2)))


def prefetch_chunks(chunks: Sequence[Sequence[T]], load: Loader, workers: int | None = None, ahead: int = 1
                    ) -> Iterator[list[np.ndarray | ImageDecodeError]]:
    """Yield, per chunk, each item's frame or the error it raised, `ahead` chunks decoded in advance."""

    def safe(item: T) -> np.ndarray | ImageDecodeError:
        try:
            return load(item)
        except ImageDecodeError as err:
            return err
        except (OSError, ValueError, TypeError, MemoryError) as err:  # never let one item end the chunk
            return ImageDecodeError(f"{type(item).__name__} item: {err}")

    if not chunks:
        return
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        pending: list[list[Future]] = [[pool.submit(safe, it) for it in c] for c in chunks[:1 + ahead]]
        for k in range(len(chunks)):
            if k + 1 + ahead < len(chunks):
                pending.append([pool.submit(safe, it) for it in chunks[k + 1 + ahead]])
            yield [f.result() for f in pending[k]]
            pending[k] = []  # let the frames go as soon as the caller has them


def prefetch_batches(items: Sequence[T], load: Loader, batch_size: int, workers: int | None = None
                     ) -> Iterator[tuple[int, list[np.ndarray | ImageDecodeError]]]:
    """Yield (start index, per-item frame or error) for consecutive batches of `items`."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    starts = range(0, len(items), batch_size)
    chunks = [items[s:s + batch_size] for s in starts]
    yield from zip(starts, prefetch_chunks(chunks, load, workers))


def stack_or_raise(loaded: list[np.ndarray | ImageDecodeError]) -> np.ndarray:
    """For callers that cannot skip an item (training): the first error, else the stacked batch."""
    for f in loaded:
        if isinstance(f, ImageDecodeError):
            raise f
    return np.stack(loaded)
