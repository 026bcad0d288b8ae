"""Multi-stage statistics pooling for CNN backbones: what IQA needs from an ImageNet CNN.

The last pooled vector of a classifier is built to forget blur, noise and compression: they do
not change the class. The early stages still see them. So the embedding concatenates, for every
stage, each channel's spatial mean and standard deviation, plus the usual average of the final
features. Measured on CLIVE with a frozen EfficientNet-Lite0 (README): the statistics beat the
last pooled vector alone. Everything here is Conv/ReduceMean/Sqrt in ONNX, so it exports like
the rest of the graph, and it works at any input size.
"""

from __future__ import annotations

import torch
from torch import nn

POOLS = ("last", "stats")


def stage_channels(model: nn.Module) -> list[int]:
    return [int(info["num_chs"]) for info in model.feature_info]


class StageStatsPool(nn.Module):
    """A timm CNN (with `forward_intermediates`) -> [N, sum(2 * stage channels) + final channels]."""

    def __init__(self, model: nn.Module, eps: float = 1e-6) -> None:
        super().__init__()
        if not hasattr(model, "forward_intermediates") or not hasattr(model, "feature_info"):
            raise ValueError(f"{type(model).__name__} has no forward_intermediates: stats pooling needs a timm CNN")
        self.model = model
        self.eps = eps
        self.stages = stage_channels(model)
        self.num_features = 2 * sum(self.stages) + int(model.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        final, stages = self.model.forward_intermediates(x, indices=len(self.stages))
        parts = []
        for f in stages:
            f = f.float()
            mean = f.mean(dim=(2, 3))
            # Centred before squaring: E[x^2] - E[x]^2 cancels badly in fp16 / int8 engines.
            var = ((f - mean[:, :, None, None]) ** 2).mean(dim=(2, 3))
            parts += [mean, torch.sqrt(var + self.eps)]
        parts.append(self.model.forward_head(final, pre_logits=True).float())
        return torch.cat(parts, dim=1)
