"""K heads on one frozen backbone, each trained without a different 1/K of the training photos.

Why: 872 rated photos are few for a 1568 -> 512 -> 512 head, and heads trained on different
subsets err differently. Measured on the release folds (benchmarks/results/camera_faults_ensemble.md):
the mean of 4 such heads beat the single head on every fold (CV SRCC median 0.772 -> 0.788, white
balance 0.49 -> 0.60). The backbone is shared, so at run time the cost is K small heads (a few
MFLOP each) beside a backbone of about 2 GFLOP at 512 px.

`--head-ensemble K` (frozen regime): `train()` trains the K members as ordinary runs under
OUT/members/, then writes one checkpoint at OUT whose head is a `HeadEnsemble` (the members'
weights side by side) and evaluates it on the run's validation and test photos. Export folds each
member and averages their outputs in the graph (export/fold.py).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from edgeiqa.train.heads import IQAHead
from torch import nn

if TYPE_CHECKING:
    from edgeiqa.train.config import TrainConfig
    from edgeiqa.train.trainer import TrainResult


class HeadEnsemble(nn.Module):
    """The mean of K IQAHeads: score, MOS head and attributes are each averaged."""

    def __init__(self, members: list[IQAHead]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two heads")
        self.members = nn.ModuleList(members)
        self.head_name = members[0].head_name

    @property
    def attributes(self) -> nn.Module | None:
        """The first member's branch, for `is None` checks: every member has one or none."""
        return self.members[0].attributes

    @property
    def in_features(self) -> int:
        return self.members[0].fc1.in_features

    def set_input_stats(self, embeddings: torch.Tensor) -> None:
        for m in self.members:
            m.set_input_stats(embeddings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)

    def mos(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m.mos(x) for m in self.members]).mean(0)

    def score_and_attributes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [m.score_and_attributes(x) for m in self.members]
        return torch.stack([s for s, _ in outs]).mean(0), torch.stack([a for _, a in outs]).mean(0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m.features(x) for m in self.members], dim=1)

    def select_layers(self) -> list:
        return [layer for m in self.members for layer in m.select_layers()]

    def describe(self) -> dict[str, Any]:
        return {**self.members[0].describe(), "ensemble": len(self.members)}


def member_splits(split: dict[str, list[str]], k: int, seed: int) -> list[dict[str, list[str]]]:
    """K copies of a split, the j-th without the j-th of K seeded parts of its training photos
    (validation and test unchanged, so every member is chosen on the same photos)."""
    train = list(split["train"])
    if len(train) < 2 * k:
        raise ValueError(f"--head-ensemble {k} needs at least {2 * k} training photos, the split has {len(train)}")
    order = np.random.default_rng(seed).permutation(len(train))
    out = []
    for j in range(k):
        held = {train[i] for i in order[j::k]}
        out.append({**split, "train": [t for t in train if t not in held]})
    return out


def train_ensemble(cfg: TrainConfig) -> TrainResult:
    """Train the members, write the ensemble checkpoint at cfg.out, evaluate it."""
    from edgeiqa.train.checkpoint import atomic_write_json, load_checkpoint, read_checkpoint_config, save_checkpoint
    from edgeiqa.train.data.splits import make_split, save_split
    from edgeiqa.train.trainer import TrainResult, train

    if cfg.regime != "frozen":
        raise ValueError("--head-ensemble shares one frozen backbone between its heads: use --regime frozen")
    t0 = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.split_file:
        split = json.loads(Path(cfg.split_file).read_text())
    else:  # the split a single run would make, written once so every member shares it
        from edgeiqa.train.data.registry import load_dataset
        from edgeiqa.train.trainer import dataset_options

        ds = load_dataset(cfg.dataset, cfg.data_root, **dataset_options(cfg))
        save_split(out / "split.json", ds, make_split(ds, cfg.seed, tuple(cfg.split_ratios), cfg.official_split),
                   cfg.seed)
        split = json.loads((out / "split.json").read_text())
    members = []
    for j, part in enumerate(member_splits(split, cfg.head_ensemble, cfg.seed)):
        print(f"head {j + 1} of {cfg.head_ensemble}: {len(part['train'])} of {len(split['train'])} training photos",
              flush=True)
        split_j = out / "members" / f"split{j}.json"
        split_j.parent.mkdir(parents=True, exist_ok=True)
        split_j.write_text(json.dumps(part))
        members.append(train(dataclasses.replace(cfg, head_ensemble=1, split_file=str(split_j),
                                                 out=str(out / "members" / f"head{j}"))))

    heads = [load_checkpoint(m.out)[0].head for m in members]
    model, _ = load_checkpoint(members[0].out)
    model.head = HeadEnsemble(heads)
    full_split = out / "split.json"  # where export and the release recipe look for the run's photos
    full_split.write_text(json.dumps(split, indent=1))
    ens_cfg = dataclasses.replace(cfg, split_file=str(full_split))
    meta = read_checkpoint_config(members[0].out)
    from edgeiqa.train.data.records import LabelScale

    scale = LabelScale.from_dict(meta["label_scale"])
    save_checkpoint(out, model, ens_cfg, model.preprocess, scale, model.head.describe())
    val, test = (_evaluate(model, ens_cfg, scale, split.get(k, [])) for k in ("val", "test"))
    best_epoch = int(statistics.median(m.best_epoch for m in members))
    seconds = time.perf_counter() - t0
    cfg_json = read_checkpoint_config(out)
    cfg_json["metrics"] = {"val": val, "test": test, "best_epoch": best_epoch,
                           "members": [{"best_epoch": m.best_epoch, "val": m.val, "test": m.test} for m in members],
                           "n_train": len(split["train"]), "n_val": len(split.get("val", [])),
                           "n_test": len(split.get("test", [])), "seconds": round(seconds, 2)}
    atomic_write_json(out / "config.json", cfg_json)
    return TrainResult(out, best_epoch, val, test, max(m.epochs_run for m in members), seconds,
                       [h for m in members for h in m.history])


@torch.no_grad()
def _evaluate(model: nn.Module, cfg: TrainConfig, scale, names: list[str]) -> dict[str, float]:
    """The ensemble's metrics on these photos, from the members' embedding cache."""
    from edgeiqa.train.data.registry import load_dataset
    from edgeiqa.train.embed_cache import EmbeddingCache
    from edgeiqa.train.metrics import iqa_metrics
    from edgeiqa.train.trainer import dataset_options

    if len(names) < 3:
        return {}
    ds = load_dataset(cfg.dataset, cfg.data_root, **dataset_options(cfg))
    by_name = {(s.name or str(s.path)): s for s in ds.samples}
    samples = [by_name[n] for n in names]
    emb = EmbeddingCache(model, cfg.cache_dir or None).get([s.path for s in samples]).float()
    pred = model.head.eval()(emb).numpy()
    return iqa_metrics(np.array([scale.to_mos(float(p)) for p in pred]), np.array([s.mos for s in samples]))
