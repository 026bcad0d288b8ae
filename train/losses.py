"""MSE + pairwise margin ranking, with the ranking arguments in the right order.

The paper's reference code passes (target, prediction) where torch's margin ranking loss expects
(x1, x2, y) = (pred_i, pred_j, sign(target_i - target_j)), so its ranking term barely acts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pairwise_ranking_loss(pred: torch.Tensor, target: torch.Tensor, margin_factor: float = 0.25) -> torch.Tensor:
    """mean over ordered pairs i<j with target_i != target_j of max(0, -s_ij (p_i - p_j) + m).

    s_ij = sign(t_i - t_j); the margin m = margin_factor * std(target) adapts to the batch's spread.
    """
    n = pred.shape[0]
    if n < 2:
        return pred.sum() * 0.0
    i, j = torch.triu_indices(n, n, offset=1, device=pred.device)
    sign = torch.sign(target[i] - target[j])
    keep = sign != 0
    if not bool(keep.any()):
        return pred.sum() * 0.0
    margin = margin_factor * target.std().detach()
    return F.margin_ranking_loss(pred[i][keep], pred[j][keep], sign[keep], margin=float(margin))


def iqa_loss(pred: torch.Tensor, target: torch.Tensor, rank_weight: float = 1.0,
             margin_factor: float = 0.25) -> torch.Tensor:
    loss = F.mse_loss(pred, target)
    if rank_weight > 0:
        loss = loss + rank_weight * pairwise_ranking_loss(pred, target, margin_factor)
    return loss
