"""The trainable model: uint8 NHWC frame -> normalise -> backbone -> head -> score.

The model takes the frame exactly as the runtime hands it (uint8, NHWC), so the normalisation
that training uses is the one export bakes into the graph: nothing to keep in sync by hand.
"""

from __future__ import annotations

import torch
from edgeiqa.train.backbones import Backbone, PreprocessConfig
from edgeiqa.train.colour_stats import ColourStats
from edgeiqa.train.heads import IQAHead
from torch import nn


class Normalize(nn.Module):
    """uint8 [N,H,W,3] -> float [N,3,H,W], (x/255 - mean) / std, with buffers that export."""

    def __init__(self, pre: PreprocessConfig) -> None:
        super().__init__()
        mean = torch.tensor(pre.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(pre.std, dtype=torch.float32).view(1, 3, 1, 1)
        # Fold /255 into the scale: one Mul and one Sub in the graph.
        self.register_buffer("scale", 1.0 / (255.0 * std), persistent=False)
        self.register_buffer("shift", mean / std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Cast first: TensorRT lets a UINT8 network input feed only a Cast (NVIDIA/TensorRT#3985).
        return x.float().permute(0, 3, 1, 2) * self.scale - self.shift

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised float NCHW -> float NHWC 0..255: what a camera front or a float-input graph
        hands the colour statistics, which read pixels, not normalised values."""
        return ((x + self.shift) / self.scale).permute(0, 2, 3, 1)


class IQAModel(nn.Module):
    def __init__(self, backbone: Backbone, head: IQAHead, colour: ColourStats | None = None) -> None:
        super().__init__()
        self.normalize = Normalize(backbone.preprocess)
        self.backbone = backbone
        self.head = head
        self.colour = colour  # train/colour_stats.py: appended to the backbone's embedding

    @property
    def preprocess(self) -> PreprocessConfig:
        return self.backbone.preprocess

    def use_preprocess(self, pre: PreprocessConfig) -> None:
        """Adopt a recorded preprocessing (checkpoint load): the normalisation buffers follow it."""
        self.backbone.preprocess = pre
        device = self.normalize.scale.device
        self.normalize = Normalize(pre).to(device)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC frames -> pooled embeddings [N, D] (what the frozen regime caches): the
        backbone's, then the colour statistics' where the model has them."""
        pixels = frames.float()  # one Cast of the uint8 input, read by both parts
        embedding = self.backbone(self.normalize(pixels))
        if self.colour is None:
            return embedding
        return torch.cat([embedding.float(), self.colour(pixels)], dim=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC frames -> scores on the training scale [N]."""
        return self.head(self.embed(frames).float())
