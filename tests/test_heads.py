import pytest
import torch
import torch.nn.functional as F
from edgeiqa.train.activations import GatedActivation, SelectActivation
from edgeiqa.train.heads import HEADS, IQAHead
from edgeiqa.train.losses import iqa_loss, pairwise_ranking_loss


def test_gated_activation_matches_the_paper_formula():
    torch.manual_seed(0)
    act = GatedActivation(16)
    with torch.no_grad():
        for p in (act.g, act.alpha, act.beta, act.a):
            p.copy_(torch.randn(16))
    x = torch.randn(8, 16) * 5
    w = torch.sigmoid(act.g)
    expected = w * torch.sigmoid(torch.clamp(act.alpha * x + act.beta, -20, 20)) + (1 - w) * torch.where(
        x >= 0, x, act.a * x)
    assert torch.allclose(act(x), expected, atol=0)
    fresh = GatedActivation(4)  # the paper's initial values
    assert torch.all(fresh.g == 0) and torch.all(fresh.alpha == 1) and torch.all(fresh.beta == 0)
    assert torch.allclose(fresh.a, torch.full((4,), 0.25))


def test_select_activation_matches_its_formula_soft_and_hard():
    torch.manual_seed(1)
    act = SelectActivation(6, ("sigmoid", "relu", "gelu", "tanh", "prelu"), temperature=0.7)
    with torch.no_grad():
        act.logits.copy_(torch.randn(6, 5))
        act.alpha.copy_(torch.randn(6, 5))
        act.beta.copy_(torch.randn(6, 5))
    x = torch.randn(4, 6)
    p = torch.softmax(act.logits / 0.7, dim=1)
    z = x[..., None] * act.alpha + act.beta
    fs = [torch.sigmoid(z[..., 0]), F.relu(z[..., 1]), F.gelu(z[..., 2]), torch.tanh(z[..., 3]),
          torch.where(z[..., 4] >= 0, z[..., 4], act.slope * z[..., 4])]
    expected = sum(p[:, k] * fs[k] for k in range(5))
    assert torch.allclose(act(x), expected, atol=1e-6)
    act.harden()
    chosen = act.logits.argmax(1)
    hard = torch.stack([fs[int(chosen[c])][:, c] for c in range(6)], dim=1)
    assert torch.allclose(act(x), hard, atol=1e-6)


@pytest.mark.parametrize("head", HEADS.list())
def test_every_head_trains_and_its_loss_falls(head):
    torch.manual_seed(0)
    x = torch.randn(64, 24)
    y = torch.sigmoid(x[:, :3].sum(1))
    model = IQAHead(24, hidden=32, head=head)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = float(iqa_loss(model(x), y).detach())
    for _ in range(60):
        opt.zero_grad()
        iqa_loss(model(x), y).backward()
        opt.step()
    assert float(iqa_loss(model(x), y).detach()) < 0.5 * first


def test_unknown_head_has_a_hint():
    with pytest.raises(KeyError, match="did you mean 'gated'"):
        IQAHead(8, head="gatd")


def test_ranking_loss_argument_order():
    target = torch.tensor([0.1, 0.5, 0.9])
    agree = torch.tensor([0.0, 1.0, 2.0])  # ordered like the targets, gaps >> margin
    assert float(pairwise_ranking_loss(agree, target)) == 0.0
    assert float(pairwise_ranking_loss(-agree, target)) > 1.0  # the reversed order is penalised
    tied = torch.tensor([0.5, 0.5])
    assert float(pairwise_ranking_loss(torch.tensor([0.0, 3.0]), tied)) == 0.0
