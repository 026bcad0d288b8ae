"""Fold learned per-channel activations into plain layers (DESIGN.md, Stage 2, step 2).

For y_c = sum_k p_ck f_k(alpha_ck h_c + beta_ck) between h = W1 x + b1 and z = W2 y + b2, every
(channel, candidate) pair with p_ck above the pruning threshold becomes one row of a wider first
Linear (rows alpha_ck W1[c], bias alpha_ck b1[c] + beta_ck), rows are grouped by candidate so each
group gets one fixed activation, and the matching columns of W2 are scaled by p_ck. The result has
only Gemm, Split, Sigmoid/Relu/Gelu/Tanh/PRelu and Concat: nothing an engine builder lacks.

Where candidates share channels (the gated unit: every channel feeds both its sigmoid and its
PReLU), the rows alpha_ck W1[c] would repeat W1 once per candidate. Those heads fold to the shared
form instead: `Gemm(C) -> per candidate [Gather, Mul, Add] -> f_k -> Concat -> Gemm`, the affine
alpha_ck h_c + beta_ck applied after one Gemm. Same function up to float rounding, and W1 is
stored once: for the default's four gated heads that is 12.6 MB less in every graph. A head whose
candidates partition the channels (a hardened `select`) keeps the row form: it has nothing to share.
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


class SharedMixture(nn.Module):
    """The shared form's activation: per candidate, the channels it keeps (a Gather where that is
    not all of them), its affine input (a Mul and an Add where it is not the identity), its
    activation; the groups concatenated in the order the second Gemm's columns expect."""

    def __init__(self, groups: list[tuple[str, torch.Tensor | None, torch.Tensor, torch.Tensor]],
                 slopes: dict[int, torch.Tensor]) -> None:
        super().__init__()
        self.names = [g[0] for g in groups]
        self.sizes = [len(g[2]) for g in groups]
        self.acts = nn.ModuleList()
        self.affine = [not (bool((a == 1).all()) and bool((b == 0).all())) for _, _, a, b in groups]
        self.gather = [g[1] is not None for g in groups]
        for i, (name, idx, alpha, beta) in enumerate(groups):
            self.register_buffer(f"index{i}", idx if idx is not None else torch.zeros(0, dtype=torch.long))
            self.register_buffer(f"alpha{i}", alpha.clone())
            self.register_buffer(f"beta{i}", beta.clone())
            if name == "prelu":
                act = nn.PReLU(len(alpha))
                act.weight.data.copy_(slopes[i])
            else:
                act = _FixedActivation(name)
            self.acts.append(act)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        parts = []
        for i, act in enumerate(self.acts):
            z = torch.index_select(h, 1, getattr(self, f"index{i}")) if self.gather[i] else h
            if self.affine[i]:
                z = z * getattr(self, f"alpha{i}") + getattr(self, f"beta{i}")
            parts.append(act(z))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


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


def _kept(mixture: list[Candidate], eps: float) -> tuple[list[tuple[Candidate, torch.Tensor]], int]:
    """(candidate, the channels it keeps) for every candidate that keeps any, and the pairs pruned."""
    kept, dropped = [], 0
    for cand in mixture:
        keep = torch.nonzero(cand.weight > eps).flatten() if eps > 0 else torch.nonzero(cand.weight != 0).flatten()
        dropped += int((cand.weight != 0).sum()) - len(keep)
        if len(keep):
            kept.append((cand, keep))
    if not kept:
        raise ValueError("pruning removed every channel: lower --prune")
    return kept, dropped


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    layer.weight.data.copy_(weight)
    layer.bias.data.copy_(bias)
    return layer


def _fold_pair(first: nn.Linear, mixture: list[Candidate], second: nn.Linear, eps: float
               ) -> tuple[nn.Linear, nn.Module, nn.Linear, dict[str, Any]]:
    w1, b1 = first.weight.detach(), first.bias.detach()
    kept, dropped = _kept(mixture, eps)
    # The second Gemm is the same in both forms: column p_ck W2[:, c] for every kept pair, by group.
    new_second = _linear(torch.cat([second.weight.detach()[:, keep] * cand.weight[keep][None, :]
                                    for cand, keep in kept], dim=1), second.bias.detach())
    slopes = {i: cand.slope[keep] for i, (cand, keep) in enumerate(kept) if cand.name == "prelu"}
    groups = [(cand.name, len(keep)) for cand, keep in kept]
    channels = torch.unique(torch.cat([keep for _, keep in kept]))  # sorted
    shared = len(channels) < sum(len(keep) for _, keep in kept)  # some channel feeds two candidates
    if shared:
        new_first = _linear(w1[channels], b1[channels])
        position = {int(c): j for j, c in enumerate(channels)}
        act: nn.Module = SharedMixture(
            [(cand.name, None if len(keep) == len(channels) else torch.tensor([position[int(c)] for c in keep]),
              cand.alpha[keep], cand.beta[keep]) for cand, keep in kept], slopes)
    else:
        a = [cand.alpha[keep] for cand, keep in kept]
        new_first = _linear(torch.cat([ak[:, None] * w1[keep] for ak, (_, keep) in zip(a, kept)]),
                            torch.cat([ak * b1[keep] + cand.beta[keep] for ak, (cand, keep) in zip(a, kept)]))
        act = GroupedActivation(groups, slopes)
    info = {"channels_in": first.out_features, "channels_out": new_second.in_features,
            "form": "shared" if shared else "rows", "first_gemm_rows": new_first.out_features,
            "groups": [{"activation": n, "channels": c} for n, c in groups], "pairs_pruned": dropped}
    return new_first, act, new_second, info


@torch.no_grad()
def fold_head(head: IQAHead | HeadEnsemble, prune_eps: float = 0.0) -> tuple[nn.Module, FoldReport]:
    """A plain module computing the same function as `head` (up to pruning)."""
    head = head.eval()
    if isinstance(head, HeadEnsemble):
        return _fold_ensemble(head, prune_eps)
    fc1, fc2, fc3 = (nn.Linear(layer.in_features, layer.out_features) for layer in (head.fc1, head.fc2, head.fc3))
    for dst, src in ((fc1, head.fc1), (fc2, head.fc2), (fc3, head.fc3)):
        dst.load_state_dict(src.state_dict())
    # Input standardisation (and the MOS path's input mask) into fc1: W (x - m) s + b = (W s) x + (b - (W s) m).
    fc1.weight.mul_((head.in_scale * head.mos_input_mask())[None, :])
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
