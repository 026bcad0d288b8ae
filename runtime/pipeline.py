"""Decode ahead of the model: a thread pool prepares batch i+1 while batch i runs.

Pillow releases the GIL while decoding and resizing, so threads overlap with each other and with
the inference library's own threads. Results come back in input order.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator, Sequence, TypeVar

import numpy as np
from edgeiqa.runtime.errors import ImageDecodeError

T = TypeVar("T")
Loader = Callable[[T], np.ndarray]


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2)))


def prefetch_batches(items: Sequence[T], load: Loader, batch_size: int, workers: int | None = None
                     ) -> Iterator[tuple[int, list[np.ndarray | ImageDecodeError]]]:
    """Yield (start index, per-item frame or the error it raised) for consecutive batches."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")

    def safe(item: T) -> np.ndarray | ImageDecodeError:
        try:
            return load(item)
        except ImageDecodeError as err:
            return err
        except (OSError, ValueError, TypeError, MemoryError) as err:  # never let one item end the batch
            return ImageDecodeError(f"{type(item).__name__} item: {err}")

    starts = list(range(0, len(items), batch_size))
    if not starts:
        return
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        def submit(start: int) -> list[Future]:
            return [pool.submit(safe, it) for it in items[start:start + batch_size]]

        pending = submit(starts[0])
        for k, start in enumerate(starts):
            following = submit(starts[k + 1]) if k + 1 < len(starts) else []
            yield start, [f.result() for f in pending]
            pending = following
