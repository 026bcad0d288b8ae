"""Regression heads: Linear(D->H) -> act -> Linear(H->H) -> act -> Linear(H->1).

Heads are registered by name; each names its two activations. `gated` is the paper's head
(PAPER.md): GatedActivation after the first Linear, per-channel PReLU after the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from edgeiqa.train.activations import ACTIVATIONS, DEFAULT_CANDIDATES, GatedActivation, SelectActivation
from edgeiqa.train.attribute_head import AttributeBranch
from edgeiqa.train.registry import Registry
from torch import nn


@dataclass(frozen=True)
class HeadSpec:
    first: str  # activation after the first Linear
    second: str  # activation after the second Linear


HEADS: Registry[HeadSpec] = Registry("head")
for _name in ("relu", "gelu", "sigmoid", "tanh", "leaky_relu", "prelu"):
    HEADS.add(_name, HeadSpec(_name, _name))
HEADS.add("gated", HeadSpec("gated", "prelu"))
HEADS.add("select", HeadSpec("select", "select"))
HEADS.add("b_sig", HeadSpec("sigmoid", "leaky_relu"))  # the paper's "B_Sig" ablation


def _make_activation(name: str, channels: int, candidates: tuple[str, ...]) -> nn.Module:
    if name == "gated":
        return GatedActivation(channels)
    if name == "select":
        return SelectActivation(channels, candidates)
    factory: Callable[[int], nn.Module] = ACTIVATIONS.get(name)
    return factory(channels)


class IQAHead(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 512, head: str = "gated",
                 candidates: tuple[str, ...] = DEFAULT_CANDIDATES, attributes: bool = False,
                 dead_zone: float = 0.1, own_dead_zones: dict[str, float] | None = None,
                 mos_reads: int | None = None) -> None:
        super().__init__()
        # The MOS path reads only the first `mos_reads` inputs (None: all of them); the attribute
        # branch reads every one. The colour statistics (train/colour_stats.py) sit at the end of
        # the embedding: read by the MOS head too, they let it learn a shortcut that cost the
        # graded set of unseen distortions 0.05 (docs/benchmarks.md), so a model may give them to
        # the attributes alone. A mask, not a slice: fc1 keeps the input's width, and export
        # folds the mask into fc1's columns with the standardisation (export/fold.py).
        self.mos_reads = in_dim if mos_reads is None else int(mos_reads)
        if not 0 < self.mos_reads <= in_dim:
            raise ValueError(f"mos_reads must be 1..{in_dim}, got {mos_reads}")
        spec = HEADS.get(head)
        self.head_name = head
        self.fc1 = nn.Linear(in_dim, hidden)
        self.act1 = _make_activation(spec.first, hidden, tuple(candidates))
        self.fc2 = nn.Linear(hidden, hidden)
        self.act2 = _make_activation(spec.second, hidden, tuple(candidates))
        self.fc3 = nn.Linear(hidden, 1)
        # Per-feature standardisation fitted on the training embeddings (set_input_stats): multi-
        # stage statistics mix scales over orders of magnitude. Export folds it into fc1.
        self.register_buffer("in_shift", torch.zeros(in_dim))
        self.register_buffer("in_scale", torch.ones(in_dim))
        # Camera-fault attributes (train/attribute_head.py): their penalty is part of the score.
        self.attributes = AttributeBranch(in_dim, dead_zone=dead_zone,
                                          own_dead_zones=own_dead_zones) if attributes else None

    @torch.no_grad()
    def set_input_stats(self, embeddings: torch.Tensor) -> None:
        """Standardise inputs with the mean and std of these (training) embeddings."""
        e = embeddings.detach().float().to(self.in_shift.device)
        self.in_shift.copy_(e.mean(0))
        self.in_scale.copy_(1.0 / e.std(0).clamp_min(1e-6) if len(e) > 1 else torch.ones_like(self.in_scale))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.in_shift) * self.in_scale

    def mos_input_mask(self) -> torch.Tensor:
        """[in_dim] 1 for the inputs the MOS path reads, 0 for the others."""
        n = self.in_shift.shape[0]
        return (torch.arange(n, device=self.in_shift.device) < self.mos_reads).to(self.in_scale.dtype)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer (what t-SNE plots)."""
        z = self.standardise(x)
        if self.mos_reads < z.shape[1]:
            z = z * self.mos_input_mask()
        return self.act2(self.fc2(self.act1(self.fc1(z))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score_and_raw(x)[0]

    def mos(self, x: torch.Tensor) -> torch.Tensor:
        """The MOS head alone (no fault penalty): what rated photos train when the penalty is left out."""
        return self.fc3(self.features(x)).squeeze(-1)

    def score_and_raw(self, x: torch.Tensor, detach_mos: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The score and, with attributes, their raw outputs (broken as a logit) for the losses.

        detach_mos: the MOS path passes no gradient (the fault terms train only the attributes
        and their penalty, train/fault_training.py)."""
        score = self.fc3(self.features(x)).squeeze(-1)
        if detach_mos:
            score = score.detach()
        if self.attributes is None:
            return score, None
        raw = self.attributes.raw(self.standardise(x))
        return score - self.attributes.penalty(self.attributes.readable(raw)), raw

    def score_and_attributes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the exported graph outputs: score [N] and the published attributes [N, K]."""
        score, raw = self.score_and_raw(x)
        if raw is None:
            raise ValueError("this head was trained without attributes")
        return score, self.attributes.readable(raw)

    def select_layers(self) -> list[SelectActivation]:
        return [m for m in (self.act1, self.act2) if isinstance(m, SelectActivation)]

    def describe(self) -> dict[str, Any]:
        return {"name": self.head_name, "in_dim": self.fc1.in_features, "hidden": self.fc1.out_features,
                "candidates": list(getattr(self.act1, "candidates", ()) or getattr(self.act2, "candidates", ())),
                "hard": all(bool(m.hard) for m in self.select_layers()) if self.select_layers() else None,
                "attributes": self.attributes is not None, "mos_reads": self.mos_reads}
