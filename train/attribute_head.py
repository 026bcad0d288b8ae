"""The reason beside the score: camera-fault attributes, and how they pull the score down.

Rated photos teach a head what people think of ordinary photos, but 872 of them hold almost no
blown-out, pitch-dark or broken frames, so a MOS head alone passes them (issue "Judge what cameras
get wrong": over-exposure ordered at 0.18). The attributes are learned from rendered camera
faults, whose levels are known (train/data/camera_faults.py), and the score subtracts a learned
penalty for each fault beyond a small dead zone:

    score = mos_head(x) - sum_k softplus(w_k) * relu(severity_k(x) - dead_zone)

so a photo without faults keeps the MOS head's score (its ranking on rated photos), and a frame
whose fault the attributes see loses in proportion. The MOS head learns from rated photos alone;
the attributes and the penalty from the rendered copies (train/fault_training.py). Severities put every attribute on one
0..1-ish scale: blur, |exposure| / 2 stops, noise, compression, colour cast, broken probability.

Outputs, in this order (the manifest's `output.attributes` names them): blur (0 sharp .. 1 the
worst rendered), exposure (stops, signed: < 0 dark, > 0 bright), noise (0..1), compression (0..1),
colour_cast (0..1), broken (probability).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from edgeiqa.train.data.camera_faults import ATTRIBUTE_NAMES
from torch import nn

DEAD_ZONE = 0.25  # severities below this cost nothing: authentic photos are never perfectly clean
EXPOSURE_STOPS_PER_UNIT = 2.0  # |exposure| of 2 stops counts as severity 1
BROKEN_INDEX = ATTRIBUTE_NAMES.index("broken")
EXPOSURE_INDEX = ATTRIBUTE_NAMES.index("exposure")


class AttributeBranch(nn.Module):
    """Standardised embedding -> Linear -> PReLU -> Linear -> K raw outputs (broken as a logit)."""

    def __init__(self, in_dim: int, hidden: int = 128, dead_zone: float = DEAD_ZONE,
                 own_dead_zones: dict[str, float] | None = None) -> None:
        super().__init__()
        # An attribute may have a dead zone of its own (attribute name -> zone). broken is a
        # probability, not a level: below 0.5 its own classifier says "not broken", and with the
        # common dead zone (0.25) it cost two thirds of a CLIVE test fold's authentic photos a few
        # MOS points each, at random; the colour cast fired on a quarter of them, mostly colourful
        # photos people liked (docs/benchmarks.md, "What the penalty costs authentic photos").
        own = own_dead_zones or {}
        unknown = set(own) - set(ATTRIBUTE_NAMES)
        if unknown:
            raise ValueError(f"no attribute named {sorted(unknown)}; the attributes are {list(ATTRIBUTE_NAMES)}")
        self.zones = tuple(float(own.get(name, dead_zone)) for name in ATTRIBUTE_NAMES)  # one per attribute
        self.fc1 = nn.Linear(in_dim, hidden)
        self.act = nn.PReLU(hidden)
        self.fc2 = nn.Linear(hidden, len(ATTRIBUTE_NAMES))
        # Each fault starts at a modest cost (softplus(-1) = 0.31 training-scale units per unit of
        # severity); training moves it.
        self.penalty_raw = nn.Parameter(torch.full((len(ATTRIBUTE_NAMES),), -1.0))

    def raw(self, x_std: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x_std)))

    @staticmethod
    def readable(raw: torch.Tensor) -> torch.Tensor:
        """Raw outputs -> the published attributes: levels clipped at 0 (a photo is never less than
        sharp), exposure signed as it is, broken as a probability."""
        columns = []
        for i in range(raw.shape[1]):
            col = raw[:, i:i + 1]
            columns.append(col if i == EXPOSURE_INDEX else torch.sigmoid(col) if i == BROKEN_INDEX else F.relu(col))
        return torch.cat(columns, dim=1)

    def penalty(self, attributes: torch.Tensor) -> torch.Tensor:
        """[N, K] published attributes -> [N] amount subtracted from the MOS head's score."""
        e = EXPOSURE_INDEX  # slices and a Concat, no in-place write: the graph stays plain for every engine
        severity = torch.cat([attributes[:, :e], attributes[:, e:e + 1].abs() / EXPOSURE_STOPS_PER_UNIT,
                              attributes[:, e + 1:]], dim=1)
        zone = torch.tensor(self.zones, dtype=severity.dtype, device=severity.device)
        return (F.relu(severity - zone) * F.softplus(self.penalty_raw)).sum(dim=1)


def attribute_loss(raw: torch.Tensor, labels: torch.Tensor, broken_weight: float = 1.0) -> torch.Tensor:
    """MSE on the graded attributes (exposure in units of 2 stops), BCE on broken.

    Broken frames have no blur, exposure, noise or compression level, so for them only the
    broken term counts.
    """
    is_broken = labels[:, BROKEN_INDEX] > 0.5
    bce = F.binary_cross_entropy_with_logits(raw[:, BROKEN_INDEX], labels[:, BROKEN_INDEX])
    graded = [i for i in range(len(ATTRIBUTE_NAMES)) if i != BROKEN_INDEX]
    scale = torch.ones(len(graded), device=raw.device)
    scale[graded.index(EXPOSURE_INDEX)] = 1.0 / EXPOSURE_STOPS_PER_UNIT
    keep = ~is_broken
    if bool(keep.any()):
        mse = F.mse_loss(raw[keep][:, graded] * scale, labels[keep][:, graded] * scale)
    else:
        mse = raw.sum() * 0.0
    return mse + broken_weight * bce
