"""Multi-stage statistics pooling for CNN backbones: what IQA needs from an ImageNet CNN.

The last pooled vector of a classifier is built to forget blur, noise and compression: they do
not change the class. The stages on the way still see them. So the embedding is, for every stage
(every block group of an EfficientNet, layer1..4 of a ResNet), each channel's spatial mean and
standard deviation. Measured on CLIVE with frozen ImageNet EfficientNet-Lite0 at 512 px and a
ridge fit (5 folds x 3 seeds, median SRCC): all seven block groups 0.798, five feature_info
stages + the pooled head 0.780, the pooled 1280-d head alone 0.725. The head conv is never run.
Everything is Conv/ReduceMean/Sqrt in ONNX, and it works at any input size.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

POOLS = ("last", "stats")


class StageStatsPool(nn.Module):
    """A timm CNN (with `forward_intermediates`) -> [N, 2 * sum(stage channels)]."""

    def __init__(self, model: nn.Module, eps: float = 1e-6) -> None:
        super().__init__()
        if not hasattr(model, "forward_intermediates") or not hasattr(model, "feature_info"):
            raise ValueError(f"{type(model).__name__} has no forward_intermediates: stats pooling needs a timm CNN")
        self.model = model
        self.eps = eps
        # EfficientNet can return every block group (extra_blocks; index 0 is the stem); others
        # return their feature_info stages, of which index 0 is the stem too.
        self._extra = "extra_blocks" in inspect.signature(model.forward_intermediates).parameters
        n = len(model.blocks) if self._extra else len(model.feature_info) - 1
        self.indices = list(range(1, n + 1))
        was_training = model.training
        with torch.no_grad():
            probe = self._stages(torch.zeros(1, 3, 64, 64), model.eval())
        model.train(was_training)
        self.stages = [int(f.shape[1]) for f in probe]
        self.num_features = 2 * sum(self.stages)

    def _stages(self, x: torch.Tensor, model: nn.Module) -> list[torch.Tensor]:
        kw = {"extra_blocks": True} if self._extra else {}
        return model.forward_intermediates(x, indices=self.indices, stop_early=True, intermediates_only=True, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        for f in self._stages(x, self.model):
            f = f.float()
            mean = f.mean(dim=(2, 3))
            # Centred before squaring: E[x^2] - E[x]^2 cancels badly in fp16 / int8 engines.
            var = ((f - mean[:, :, None, None]) ** 2).mean(dim=(2, 3))
            parts += [mean, torch.sqrt(var + self.eps)]
        return torch.cat(parts, dim=1)
