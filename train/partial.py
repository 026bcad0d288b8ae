"""The partial fine-tune: the backbone's last stages and every norm layer train, the rest stays.

On a few hundred rated photos a full fine-tune of a CNN forgets faster than it learns; the early
stages (edges, noise, blur statistics) are already what IQA needs, and the norm layers are the
cheapest place to recalibrate them. Batch-norm running statistics stay frozen (the layers run in
eval mode): batches of 8 to 16 photos are too small to estimate them.
"""

from __future__ import annotations

from torch import nn

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)


def stages_of(model: nn.Module) -> list[nn.Module]:
    """The backbone's stages in order: `blocks` (EfficientNet, ViT) or layer1..4 (ResNet)."""
    inner = getattr(model, "model", model)  # through StageStatsPool
    if hasattr(inner, "blocks"):
        return list(inner.blocks)
    layers = [getattr(inner, f"layer{i}") for i in range(1, 5) if hasattr(inner, f"layer{i}")]
    if layers:
        return layers
    raise ValueError(f"{type(inner).__name__}: no stages found for --regime partial (needs blocks or layer1..4)")


def set_partial_trainable(backbone: nn.Module, last_stages: int) -> int:
    """Freeze the backbone, then unfreeze its last `last_stages` stages, its head conv and its norms."""
    stages = stages_of(backbone.model)
    if not 0 <= last_stages <= len(stages):
        raise ValueError(f"--partial-stages must be 0..{len(stages)} for {backbone.name}, got {last_stages}")
    backbone.requires_grad_(False)
    for stage in stages[len(stages) - last_stages:]:
        stage.requires_grad_(True)
    inner = getattr(backbone.model, "model", backbone.model)
    for name in ("conv_head", "bn2", "norm", "fc_norm"):
        if last_stages and isinstance(getattr(inner, name, None), nn.Module):
            getattr(inner, name).requires_grad_(True)
    for m in backbone.modules():
        if isinstance(m, _NORMS):
            m.requires_grad_(True)
    return sum(p.numel() for p in backbone.parameters() if p.requires_grad)


def freeze_norm_statistics(module: nn.Module) -> None:
    """Batch norms back to eval mode after `.train()`: their affine weights still learn."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
