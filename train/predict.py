"""Score images with a PyTorch checkpoint through the runtime's own Scorer loop.

The checkpoint runs as one more Backend (TorchEagerBackend), so decoding, batching, per-item
errors and the MOS scale are exactly those of an exported bundle: a difference between `predict`
and `score` can only come from the graph, never from a second loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from edgeiqa.runtime.bundle import Bundle
from edgeiqa.runtime.input_spec import InputSpec
from edgeiqa.runtime.preprocess import ImageInput
from edgeiqa.runtime.scorer import Scorer, ScoreResult
from edgeiqa.train.eager_backend import TorchEagerBackend


class CheckpointPredictor:
    def __init__(self, checkpoint: str | Path, device: str = "cpu", precision: str = "fp32-cl") -> None:
        self.backend = TorchEagerBackend(checkpoint, precision, device)
        self.model, self.config = self.backend.model, self.backend.config
        self.pre = pre = self.model.preprocess
        spec = InputSpec(pre.height, pre.width, tuple(pre.mean), tuple(pre.std), pre.resize, pre.interpolation)
        self.scorer = Scorer(Bundle(Path(checkpoint), {"input": spec.manifest_block()}), self.backend)

    def predict_frames(self, frames: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] at the model's input size -> scores on the dataset's MOS scale."""
        return self.scorer.score_array(frames)

    def predict(self, items: list[ImageInput], batch_size: int = 16) -> list[ScoreResult]:
        return self.scorer.score(items, batch_size)
