"""LoRA adapters through peft, injected into a plain nn.Module, and merged back for export."""

from __future__ import annotations

from edgeiqa.train.backbones import Backbone
from torch import nn

# timm ViTs fuse q, k and v into one `qkv` Linear, so "q/k projections" means that layer there;
# transformers towers keep separate q_proj / k_proj.
DEFAULT_TARGETS = {"timm": ("qkv",), "hf": ("q_proj", "k_proj"), "resnet": ("conv2",)}


def default_targets(backbone: Backbone) -> tuple[str, ...]:
    if backbone.kind == "hf":
        return DEFAULT_TARGETS["hf"]
    names = {n.rsplit(".", 1)[-1] for n, _ in backbone.model.named_modules()}
    if "qkv" in names:
        return DEFAULT_TARGETS["timm"]
    if "q_proj" in names:
        return DEFAULT_TARGETS["hf"]
    return DEFAULT_TARGETS["resnet"]


def add_lora(backbone: Backbone, r: int, alpha: float, dropout: float, targets: tuple[str, ...] = ()) -> int:
    """Inject adapters into the backbone in place; freeze everything but them. Returns #params."""
    from peft import LoraConfig, inject_adapter_in_model

    targets = tuple(targets) or default_targets(backbone)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets))
    backbone.model = inject_adapter_in_model(config, backbone.model)
    n = 0
    for name, p in backbone.model.named_parameters():
        p.requires_grad = "lora_" in name
        n += p.numel() if p.requires_grad else 0
    if n == 0:
        raise ValueError(f"LoRA targets {targets} matched no layer of {backbone.name}")
    return n


def merge_lora(module: nn.Module) -> int:
    """Fold every LoRA layer into its base weight and put the base layer back. Returns #merged."""
    from peft.tuners.lora import LoraLayer

    merged = 0
    for name, child in list(module.named_modules()):
        if isinstance(child, LoraLayer):
            child.merge()
            parent_name, _, attr = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            setattr(parent, attr, child.get_base_layer())
            merged += 1
    return merged
