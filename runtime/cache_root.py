"""Where edgeiqa keeps what it can rebuild: embeddings, TensorRT timing caches, ONNX Runtime's
TensorRT engines. One root, `$EDGEIQA_CACHE` or ~/.cache/edgeiqa, so a user clears or moves
everything (a read-only home on a camera box, a scratch disk on a cluster) with one variable."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root(*parts: str) -> Path:
    """$EDGEIQA_CACHE (default ~/.cache/edgeiqa) joined with `parts`; not created here."""
    return Path(os.environ.get("EDGEIQA_CACHE", Path.home() / ".cache" / "edgeiqa")).joinpath(*parts)
