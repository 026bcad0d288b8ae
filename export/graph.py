"""The module that becomes the ONNX graph: frame -> normalise -> backbone -> folded head -> MOS."""

from __future__ import annotations

import torch
from edgeiqa.train.data.records import LabelScale
from edgeiqa.train.lora import merge_lora
from edgeiqa.train.model import IQAModel
from torch import nn


class ScoringGraph(nn.Module):
    """uint8 NHWC frames (or float NCHW, normalised, with float_input) -> score on the MOS scale.

    The MOS mapping is a Mul and an Add at the end of the graph, so the engine's output is the
    number a camera shows: firmware needs no table from the manifest to interpret it.
    """

    def __init__(self, model: IQAModel, head: nn.Module, scale: LabelScale, float_input: bool = False,
                 front: nn.Module | None = None) -> None:
        super().__init__()
        self.normalize = model.normalize
        self.front = front  # a camera input (edgeiqa.export.yuv_input.YuvInput) instead of RGB frames
        self.backbone = model.backbone
        self.colour = model.colour  # train/colour_stats.py, where the model has them
        self.head = head
        self.float_input = float_input
        self.register_buffer("mos_scale", torch.tensor(scale.hi - scale.lo, dtype=torch.float32), persistent=False)
        self.register_buffer("mos_offset", torch.tensor(scale.lo, dtype=torch.float32), persistent=False)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """What the head reads, from the graph's input: the backbone's statistics of the normalised
        frame, then (where the model has them) the colour statistics of its pixels - read from the
        input's one Cast for uint8 frames, recovered from the normalised frame otherwise."""
        if self.front is not None or self.float_input:
            x = self.front(frames) if self.front is not None else frames
            pixels = self.normalize.invert(x) if self.colour is not None else None
        else:
            pixels = frames.float()
            x = self.normalize(pixels)
        embedding = self.backbone(x)
        return embedding if self.colour is None else torch.cat([embedding, self.colour(pixels)], dim=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """score [N] on the MOS scale; with an attribute head, (score, attributes [N, K])."""
        out = self.head(self.embed(frames))
        if isinstance(out, tuple):
            return out[0] * self.mos_scale + self.mos_offset, out[1]
        return out * self.mos_scale + self.mos_offset

    @property
    def has_attributes(self) -> bool:
        return bool(getattr(self.head, "has_attributes", False))


def prepare_for_export(model: IQAModel) -> int:
    """Merge LoRA adapters into the backbone weights (no peft at inference). Returns #merged."""
    return merge_lora(model.backbone.model)
