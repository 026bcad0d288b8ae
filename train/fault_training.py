"""The camera-fault terms of the training loss, next to the MOS regression on rated photos.

From faulty copies of the TRAINING photos only (train/data/fault_copies.py), every step adds:
- ranking within one photo and one fault kind: clean above the milder copy above the worse one,
  by a margin (hinge), so the score orders what a camera gets wrong without inventing a MOS for it;
- broken frames held below the lowest rated training photo, by the same margin;
- the attributes' loss (train/attribute_head.py): the rendered levels, clean photos at zero.
The MOS head itself learns from rated photos only: in these terms its output is detached, so the
copies train the attributes and the penalty they put on the score, never what the head thinks of
an ordinary photo. Pseudo-MOS for copies wrecked the authentic ranking when it was tried (issue
"Judge what cameras get wrong": 0.80 -> 0.58), and letting this ranking train the MOS head too
(`--fault-mos-grad`) cost a CLIVE fold 0.07 SRCC (benchmarks/results/camera_faults_cv.md).

Frozen regime only: each copy is embedded once through the trainer's embedding cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from edgeiqa.train.attribute_head import attribute_loss
from edgeiqa.train.data.fault_copies import copies_for

if TYPE_CHECKING:
    from edgeiqa.train.trainer import Trainer

GROUPS_PER_STEP = 8
BROKEN_PER_STEP = 4


@dataclass
class FaultTraining:
    head: torch.nn.Module
    clean: torch.Tensor  # [P, D] embeddings of the training photos
    clean_row: dict[int, int]  # dataset index of a training photo -> its row in `clean`
    copies: torch.Tensor  # [M, D]
    labels: torch.Tensor  # [M, K]
    groups: list[tuple[int, list[int]]]  # (clean row, copy rows from mildest to worst)
    broken: list[int]  # copy rows of broken frames
    floor: float  # lowest rated training target (training scale)
    margin: float
    rank_weight: float
    attribute_weight: float
    device: str
    mos_grad: bool = False
    rated_guard_weight: float = 0.0

    @classmethod
    def build(cls, trainer: Trainer) -> FaultTraining:
        cfg = trainer.cfg
        if not trainer.frozen:
            raise ValueError("--camera-faults trains on cached embeddings: use --regime frozen")
        if trainer.info.enabled:
            raise ValueError("--camera-faults runs in one process (the frozen head trains in seconds)")
        idx = trainer.split["train"]
        photos = [trainer.ds.samples[i].path for i in idx]
        cache_root = Path(trainer.cache.folder).parent
        copies = copies_for(photos, cache_root, cfg.camera_faults, cfg.broken_per_photo, cfg.seed,
                            cfg.fault_kinds)
        emb = trainer.cache.get([c.path for c in copies]).float()
        by_group: dict[tuple[int, str], list[tuple[int, int]]] = {}
        broken = []
        for row, c in enumerate(copies):
            if c.kind.startswith("broken:"):
                broken.append(row)
            else:
                by_group.setdefault((c.source, c.kind), []).append((c.level, row))
        groups = [(src, [r for _, r in sorted(items)]) for (src, _), items in sorted(by_group.items())]
        labels = torch.tensor([c.labels.as_list() for c in copies], dtype=torch.float32)
        floor = float(min(trainer.targets[i] for i in idx))
        clean_row = {i: r for r, i in enumerate(idx)}
        return cls(trainer.model.head, trainer.cache.get(photos).float(), clean_row, emb, labels, groups, broken, floor,
                   cfg.fault_margin, cfg.fault_rank_weight, cfg.attribute_weight, trainer.device, cfg.fault_mos_grad,
                   cfg.fault_rated_guard)

    def rated_guard(self, idx: list[int], target: torch.Tensor) -> torch.Tensor:
        """Hinge on rated training photos: the penalised score may not fall more than the margin
        below the photo's MOS. The MOS head is detached, so only the attributes and the penalty
        learn from it: a fault the rated photo really shows is already in the MOS head's reading,
        and a penalty on top counts it twice. `idx`: the step's rated photos (dataset indices), read
        from the embeddings this object already holds."""
        emb = self.clean[[self.clean_row[i] for i in idx]].to(self.device)
        score, _ = self.head.score_and_raw(emb, detach_mos=True)
        return self.rated_guard_weight * F.relu((target - self.margin) - score.float()).mean()

    def loss(self, rng: np.random.Generator) -> torch.Tensor:
        """The fault terms for one step: a random draw of groups and broken frames."""
        picked = [self.groups[i] for i in rng.choice(len(self.groups), min(GROUPS_PER_STEP, len(self.groups)),
                                                     replace=False)]
        clean_rows = [g[0] for g in picked]
        copy_rows = [r for g in picked for r in g[1]]
        broken_rows = (rng.choice(self.broken, min(BROKEN_PER_STEP, len(self.broken)), replace=False).tolist()
                       if self.broken else [])
        emb = torch.cat([self.clean[clean_rows], self.copies[copy_rows + broken_rows]]).to(self.device)
        score, raw = self.head.score_and_raw(emb, detach_mos=not self.mos_grad)
        n_clean, n_copies = len(clean_rows), len(copy_rows)
        labels = torch.cat([torch.zeros(n_clean, self.labels.shape[1]), self.labels[copy_rows + broken_rows]])
        total = self.attribute_weight * attribute_loss(raw, labels.to(self.device))

        # ranking inside each (photo, kind) group: position 0 = clean, then mildest .. worst
        hinges = []
        offset = n_clean
        for g, (_, rows) in enumerate(picked):
            ordered = torch.cat([score[g:g + 1], score[offset:offset + len(rows)]])
            offset += len(rows)
            i, j = torch.triu_indices(len(ordered), len(ordered), offset=1)
            hinges.append(F.relu(self.margin - (ordered[i] - ordered[j])))
        rank = torch.cat(hinges).mean()
        if broken_rows:
            below = F.relu(score[n_clean + n_copies:] - (self.floor - self.margin)).mean()
            rank = rank + below
        return total + self.rank_weight * rank
