import pytest
import torch
from edgeiqa.export.fold import SharedMixture, fold_head, measure_on
from edgeiqa.train.heads import HEADS, IQAHead


def _randomise(head: IQAHead) -> IQAHead:
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in head.named_parameters():
            if name.endswith(("logits", "g")):
                p.copy_(torch.randn_like(p) * 2)
            elif name.endswith(("alpha",)):
                p.copy_(torch.randn_like(p).abs() + 0.2)
            elif name.endswith(("beta", "a", "slope")):
                p.copy_(torch.randn_like(p) * 0.3)
    return head


@pytest.mark.parametrize("head_name", HEADS.list())
def test_folded_head_equals_the_original(head_name):
    head = _randomise(IQAHead(48, hidden=32, head=head_name))
    folded, report = fold_head(head)
    assert report.max_abs_diff_random <= 1e-5, report
    x = torch.randn(64, 48)
    assert torch.allclose(folded(x), head(x), atol=1e-5)
    measure_on(folded, head, x, report)
    assert report.max_abs_diff_real <= 1e-5


def test_gated_folds_to_one_gemm_of_c_shared_by_sigmoid_and_prelu():
    head = _randomise(IQAHead(16, hidden=8, head="gated"))
    folded, report = fold_head(head)
    assert folded[0].out_features == 8  # Gemm(C): W1 stored once, not once per candidate
    assert isinstance(folded[1], SharedMixture) and folded[1].names == ["sigmoid", "prelu"]
    assert folded[1].sizes == [8, 8] and folded[2].in_features == 16
    assert folded[1].affine == [True, False]  # the PReLU group reads the Gemm as it is
    assert report.layers[0]["form"] == "shared" and report.layers[0]["first_gemm_rows"] == 8
    assert isinstance(folded[3], torch.nn.PReLU)  # the second activation passes through


def test_pruned_gated_gathers_what_each_candidate_keeps():
    head = _randomise(IQAHead(16, hidden=12, head="gated"))
    _, exact = fold_head(head)
    folded, pruned = fold_head(head, prune_eps=0.3)
    assert pruned.layers[0]["pairs_pruned"] > 0 and pruned.layers[0]["form"] == "shared"
    assert any(folded[1].gather)
    # Pruning only drops pairs and every kept pair folds exactly: the pruned graph is the head
    # with the dropped pairs' weights set to zero.
    from edgeiqa.train.activations import apply_candidate

    x = torch.randn(32, 16)
    with torch.no_grad():
        h = head.fc1(head.standardise(x))
        y = sum(torch.where(c.weight > 0.3, c.weight, 0) * apply_candidate(c.name, c.alpha * h + c.beta, c.slope)
                for c in head.act1.mixture())
        expected = head.fc3(head.act2(head.fc2(y))).squeeze(-1)
    assert torch.allclose(folded(x), expected, atol=1e-5)
    assert pruned.max_abs_diff_random > exact.max_abs_diff_random


def test_hard_select_folds_to_one_activation_per_channel():
    head = _randomise(IQAHead(16, hidden=10, head="select"))
    for layer in head.select_layers():
        layer.harden()
    folded, report = fold_head(head)
    assert folded[0].out_features == 10 and folded[2].out_features == 10  # no widening
    assert sum(g["channels"] for g in report.layers[0]["groups"]) == 10
    x = torch.randn(32, 16)
    assert torch.allclose(folded(x), head(x), atol=1e-5)


def test_pruning_drops_small_pairs_and_reports_the_cost():
    head = _randomise(IQAHead(16, hidden=12, head="select"))
    _, exact = fold_head(head)
    folded, pruned = fold_head(head, prune_eps=0.1)
    assert pruned.layers[0]["pairs_pruned"] > 0
    assert folded[0].out_features < exact.layers[0]["channels_out"]
    assert pruned.max_abs_diff_random > exact.max_abs_diff_random
    with pytest.raises(ValueError, match="pruning removed every channel"):
        fold_head(head, prune_eps=1.1)
