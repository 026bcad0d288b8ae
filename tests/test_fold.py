import pytest
import torch
from edgeiqa.export.fold import GroupedActivation, fold_head, measure_on
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


def test_gated_folds_to_sigmoid_and_prelu_groups_of_c():
    head = _randomise(IQAHead(16, hidden=8, head="gated"))
    folded, report = fold_head(head)
    assert folded[0].out_features == 16  # Gemm(2C)
    assert isinstance(folded[1], GroupedActivation) and folded[1].names == ["sigmoid", "prelu"]
    assert folded[1].sizes == [8, 8]
    assert isinstance(folded[3], torch.nn.PReLU)  # the second activation passes through


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
