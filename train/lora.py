"""LoRA adapters through peft, injected into a plain nn.Module, and merged back for export."""

from __future__ import annotations

from edgeiqa.train.backbones import Backbone
from torch import nn

# timm ViTs fuse q, k and v into one `qkv` Linear, so "q/k projections" means that layer there;
# transformers towers keep separate q_proj / k_proj.
# CNNs: peft's LoRA wraps Linear and (ungrouped) Conv2d layers; it has no depthwise form, so on
# EfficientNet it adapts the 1x1 expansion and projection convs around each depthwise conv.
DEFAULT_TARGETS = {"timm": ("qkv",), "hf": ("q_proj", "k_proj"), "resnet": ("conv2",),
                   "efficientnet": ("conv_pw", "conv_pwl")}


def default_targets(backbone: Backbone) -> tuple[str, ...]:
    if backbone.kind == "hf":
        return DEFAULT_TARGETS["hf"]
    names = {n.rsplit(".", 1)[-1] for n, _ in backbone.model.named_modules()}
    for family in ("timm", "hf", "efficientnet", "resnet"):
        if set(DEFAULT_TARGETS[family]) & names:
            return DEFAULT_TARGETS[family]
    raise ValueError(f"no default LoRA targets for {backbone.name}: pass --lora-targets with names of its "
                     f"Linear / Conv2d layers, e.g. {', '.join(adaptable_names(backbone)[:6])}")


def adaptable_names(backbone: Backbone) -> list[str]:
    """Leaf names of the layers peft's LoRA can wrap (Linear, ungrouped Conv2d)."""
    found = {n.rsplit(".", 1)[-1] for n, m in backbone.model.named_modules()
             if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1)}
    return sorted(found)


def add_lora(backbone: Backbone, r: int, alpha: float, dropout: float, targets: tuple[str, ...] = ()) -> int:
    """Inject adapters into the backbone in place; freeze everything but them. Returns #params."""
    from peft import LoraConfig, inject_adapter_in_model

    targets = tuple(targets) or default_targets(backbone)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets))
    try:
        backbone.model = inject_adapter_in_model(config, backbone.model)
    except ValueError as err:
        raise ValueError(f"LoRA targets {list(targets)} do not fit {backbone.name} ({err}); LoRA adapts Linear "
                         f"and ungrouped Conv2d layers, here: {', '.join(adaptable_names(backbone)[:8])}") from err
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
