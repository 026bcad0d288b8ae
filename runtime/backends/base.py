"""What every inference backend offers the Scorer: run a batch, describe itself."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Backend(Protocol):
    name: str
    precision: str

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """Model input batch (uint8 NHWC, or float NCHW for float-input bundles) -> scores [N]."""
        ...

    def run_with_attributes(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores [N] and the graph's attributes [N, K] (None for a score-only graph)."""
        ...

    def synchronize(self) -> None:
        """Block until queued device work is done (timing uses this)."""
        ...

    def describe(self) -> dict[str, Any]:
        ...
