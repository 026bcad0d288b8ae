"""Score images with a PyTorch checkpoint, through the runtime's own preprocessing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from edgeiqa.runtime.errors import ImageDecodeError
from edgeiqa.runtime.preprocess import ImageInput
from edgeiqa.train.checkpoint import load_checkpoint
from edgeiqa.train.data.records import LabelScale


@dataclass
class Prediction:
    path: str
    score: float | None = None
    error: str | None = None


class CheckpointPredictor:
    def __init__(self, checkpoint: str | Path, device: str = "cpu") -> None:
        self.model, self.config = load_checkpoint(checkpoint, device)
        self.device = device
        self.scale = LabelScale.from_dict(self.config["label_scale"])
        self.pre = self.model.preprocess

    @torch.no_grad()
    def predict_frames(self, frames: np.ndarray) -> np.ndarray:
        """uint8 NHWC -> scores on the dataset's MOS scale."""
        out = self.model(torch.from_numpy(frames).to(self.device)).float().cpu().numpy()
        return np.array([self.scale.to_mos(float(t)) for t in out])

    def predict(self, items: list[ImageInput], batch_size: int = 16) -> list[Prediction]:
        results = [Prediction(str(it) if isinstance(it, (str, Path)) else f"<{type(it).__name__}>")
                   for it in items]
        ok: list[int] = []
        frames: list[np.ndarray] = []
        for i, item in enumerate(items):
            try:
                frames.append(self.pre.load(item))
                ok.append(i)
            except ImageDecodeError as err:
                results[i].error = str(err)
        for start in range(0, len(ok), batch_size):
            scores = self.predict_frames(np.stack(frames[start:start + batch_size]))
            for i, s in zip(ok[start:start + batch_size], scores):
                results[i].score = float(s)
        return results
