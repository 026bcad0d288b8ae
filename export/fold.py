"""Fold learned per-channel activations into plain layers (DESIGN.md, Stage 2, step 2).

For y_c = sum_k p_ck f_k(alpha_ck h_c + beta_ck) between h = W1 x + b1 and z = W2 y + b2, every
(channel, candidate) pair with p_ck above the pruning threshold becomes one row of a wider first
Linear (rows alpha_ck W1[c], bias alpha_ck b1[c] + beta_ck), rows are grouped by candidate so each
group gets one fixed activation, and the matching columns of W2 are scaled by p_ck. The result has
only Gemm, Split, Sigmoid/Relu/Gelu/Tanh/PRelu and Concat: nothing an engine builder lacks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from edgeiqa.train.activations import Candidate, GatedActivation, SelectActivation, apply_candidate
from edgeiqa.train.head_ensemble import HeadEnsemble
from edgeiqa.train.heads import IQAHead
from torch import nn

_MIXTURES = (GatedActivation, SelectActivation)


class GroupedActivation(nn.Module):
    """Contiguous channel groups, one fixed activation each (PReLU slopes per channel)."""

    def __init__(self, groups: list[tuple[str, int]], slopes: dict[int, torch.Tensor]) -> None:
        super().__init__()
        self.names = [g[0] for g in groups]
        self.sizes = [g[1] for g in groups]
        self.acts = nn.ModuleList()
        for i, (name, size) in enumerate(groups):
            if name == "prelu":
                act = nn.PReLU(size)
                act.weight.data.copy_(slopes[i])
            else:
                act = _FixedActivation(name)
            self.acts.append(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.acts) == 1:
            return self.acts[0](x)
        parts = torch.split(x, self.sizes, dim=1)
        return torch.cat([act(p) for act, p in zip(self.acts, parts)], dim=1)


class _FixedActivation(nn.Module):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_candidate(self.name, x)


@dataclass
class FoldReport:
    head: str
    layers: list[dict[str, Any]] = field(default_factory=list)  # per folded activation
    prune_eps: float = 0.0
    max_abs_diff_random: float = float("nan")
    mean_abs_diff_random: float = float("nan")
    max_abs_diff_real: float | None = None
    mean_abs_diff_real: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fold_pair(first: nn.Linear, mixture: list[Candidate], second: nn.Linear, eps: float
               ) -> tuple[nn.Linear, GroupedActivation, nn.Linear, dict[str, Any]]:
    w1, b1 = first.weight.detach(), first.bias.detach()
    rows, biases, cols, groups, slopes = [], [], [], [], {}
    dropped = 0
    for cand in mixture:
        keep = torch.nonzero(cand.weight > eps).flatten() if eps > 0 else torch.nonzero(cand.weight != 0).flatten()
        dropped += int((cand.weight != 0).sum()) - len(keep)
        if len(keep) == 0:
            continue
        a, b, p = cand.alpha[keep], cand.beta[keep], cand.weight[keep]
        rows.append(a[:, None] * w1[keep])
        biases.append(a * b1[keep] + b)
        cols.append(second.weight.detach()[:, keep] * p[None, :])
        if cand.name == "prelu":
            slopes[len(groups)] = cand.slope[keep]
        groups.append((cand.name, len(keep)))
    if not groups:
        raise ValueError("pruning removed every channel: lower --prune")
    new_first = nn.Linear(w1.shape[1], sum(g[1] for g in groups))
    new_first.weight.data.copy_(torch.cat(rows))
    new_first.bias.data.copy_(torch.cat(biases))
    new_second = nn.Linear(new_first.out_features, second.out_features)
    new_second.weight.data.copy_(torch.cat(cols, dim=1))
    new_second.bias.data.copy_(second.bias.detach())
    info = {"channels_in": first.out_features, "channels_out": new_first.out_features,
            "groups": [{"activation": n, "channels": c} for n, c in groups], "pairs_pruned": dropped}
    return new_first, GroupedActivation(groups, slopes), new_second, info


@torch.no_grad()
def fold_head(head: IQAHead | HeadEnsemble, prune_eps: float = 0.0) -> tuple[nn.Module, FoldReport]:
    """A plain module computing the same function as `head` (up to pruning)."""
    head = head.eval()
    if isinstance(head, HeadEnsemble):
        return _fold_ensemble(head, prune_eps)
    fc1, fc2, fc3 = (nn.Linear(layer.in_features, layer.out_features) for layer in (head.fc1, head.fc2, head.fc3))
    for dst, src in ((fc1, head.fc1), (fc2, head.fc2), (fc3, head.fc3)):
        dst.load_state_dict(src.state_dict())
    # Input standardisation into fc1: W (x - m) s + b = (W s) x + (b - (W s) m).
    fc1.weight.mul_(head.in_scale[None, :])
    fc1.bias.sub_(fc1.weight @ head.in_shift)
    report = FoldReport(head.head_name, prune_eps=prune_eps)
    act1: nn.Module = head.act1
    act2: nn.Module = head.act2
    if isinstance(act1, _MIXTURES):
        fc1, act1, fc2, info = _fold_pair(fc1, act1.mixture(), fc2, prune_eps)
        report.layers.append({"position": "act1", **info})
    if isinstance(act2, _MIXTURES):
        fc2, act2, fc3, info = _fold_pair(fc2, act2.mixture(), fc3, prune_eps)
        report.layers.append({"position": "act2", **info})
    folded: nn.Module = nn.Sequential(fc1, act1, fc2, act2, fc3, _Squeeze()).eval()
    if head.attributes is not None:
        folded = FoldedWithAttributes(folded, head).eval()
    _measure_random(folded, head, report)
    return folded, report


def _fold_ensemble(head: HeadEnsemble, prune_eps: float) -> tuple[nn.Module, FoldReport]:
    folded, reports = zip(*(fold_head(m, prune_eps) for m in head.members))
    report = FoldReport(head.head_name, prune_eps=prune_eps,
                        layers=[{"member": j, **layer} for j, r in enumerate(reports) for layer in r.layers])
    ensemble = FoldedEnsemble(list(folded)).eval()
    _measure_random(ensemble, head, report)
    return ensemble, report


def _measure_random(folded: nn.Module, head: nn.Module, report: FoldReport) -> None:
    in_dim = head.in_features if isinstance(head, HeadEnsemble) else head.fc1.in_features
    x = torch.randn(256, in_dim) * 2
    diff = (_score(folded(x)) - head(x)).abs()
    report.max_abs_diff_random, report.mean_abs_diff_random = float(diff.max()), float(diff.mean())


@torch.no_grad()
def measure_on(folded: nn.Module, head: IQAHead, embeddings: torch.Tensor, report: FoldReport) -> None:
    """Record the folding error on real embeddings (the numbers that matter)."""
    diff = (_score(folded(embeddings)) - head.eval()(embeddings)).abs()
    report.max_abs_diff_real, report.mean_abs_diff_real = float(diff.max()), float(diff.mean())


def _score(out: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


class FoldedEnsemble(nn.Module):
    """The mean of folded heads (train/head_ensemble.py): a Concat and a ReduceMean per output."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.has_attributes = bool(getattr(members[0], "has_attributes", False))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        outs = [m(x) for m in self.members]
        if not self.has_attributes:
            return torch.stack(outs).mean(0)
        return torch.stack([s for s, _ in outs]).mean(0), torch.stack([a for _, a in outs]).mean(0)


class FoldedWithAttributes(nn.Module):
    """The folded score path plus the attribute branch: outputs (score [N], attributes [N, K]).

    The branch's input standardisation folds into its first Linear like the score path's; the
    penalty (train/attribute_head.py) keeps its learned weights as constants.
    """

    def __init__(self, score_path: nn.Module, head: IQAHead) -> None:
        super().__init__()
        branch = head.attributes
        self.score_path = score_path
        self.fc1 = nn.Linear(branch.fc1.in_features, branch.fc1.out_features)
        self.fc1.load_state_dict(branch.fc1.state_dict())
        self.fc1.weight.mul_(head.in_scale[None, :])
        self.fc1.bias.sub_(self.fc1.weight @ head.in_shift)
        self.branch = branch  # act, fc2, readable() and penalty() as trained
        self.has_attributes = True

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attributes = self.branch.readable(self.branch.fc2(self.branch.act(self.fc1(x))))
        return self.score_path(x) - self.branch.penalty(attributes), attributes


class _Squeeze(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(-1)
