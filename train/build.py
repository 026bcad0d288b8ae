"""Model construction from a TrainConfig: the one path that training and loading share."""

from __future__ import annotations

from typing import Any

import torch
from edgeiqa.train.backbones import create_backbone
from edgeiqa.train.colour_stats import NUM_FEATURES as COLOUR_FEATURES
from edgeiqa.train.colour_stats import ColourStats
from edgeiqa.train.config import TrainConfig
from edgeiqa.train.head_ensemble import HeadEnsemble
from edgeiqa.train.heads import IQAHead
from edgeiqa.train.lora import add_lora
from edgeiqa.train.model import IQAModel
from edgeiqa.train.partial import set_partial_trainable


def parse_pretrained(value: str | bool) -> bool | str:
    if isinstance(value, bool):
        return value
    low = value.strip().lower()
    if low in {"", "false", "no", "0", "none"}:
        return False
    if low in {"true", "yes", "1", "hub"}:
        return True
    return value


def build_model(cfg: TrainConfig, pretrained: bool | str | None = None, head_info: dict[str, Any] | None = None
                ) -> IQAModel:
    """Backbone + head (+ LoRA adapters).

    A random-init backbone stands in for pretrained weights, so it is seeded by `backbone_seed`,
    not by the run's seed: runs over several seeds share one backbone, as they would share one
    set of pretrained weights (and one embedding cache).
    """
    torch.manual_seed(cfg.backbone_seed)
    backbone = create_backbone(cfg.backbone, parse_pretrained(cfg.pretrained if pretrained is None else pretrained),
                               image_size=cfg.image_size or None, pool=cfg.pool, resize=cfg.resize)
    torch.manual_seed(cfg.seed)
    colour = ColourStats() if cfg.colour_stats else None
    in_dim = backbone.embed_dim + (COLOUR_FEATURES if colour is not None else 0)
    heads = [IQAHead(in_dim, cfg.hidden, cfg.head, tuple(cfg.candidates),
                     attributes=cfg.camera_faults > 0, dead_zone=cfg.fault_dead_zone,
                     own_dead_zones={"broken": cfg.fault_broken_dead_zone,
                                     "colour_cast": cfg.fault_colour_dead_zone},
                     mos_reads=backbone.embed_dim if colour is not None and not cfg.colour_stats_mos else None)
             for _ in range(max(1, cfg.head_ensemble))]
    head = HeadEnsemble(heads) if len(heads) > 1 else heads[0]
    if head_info and head_info.get("hard"):
        for layer in head.select_layers():
            layer.harden()
    if cfg.regime == "lora":
        add_lora(backbone, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, tuple(cfg.lora_targets))
    if cfg.regime == "partial":
        set_partial_trainable(backbone, cfg.partial_stages)
    return IQAModel(backbone, head, colour)
