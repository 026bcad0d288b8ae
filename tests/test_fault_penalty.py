"""How the camera-fault penalty reaches the score of an authentic photo: the rated-photo guard
(`--fault-rated-guard`: the penalty may not push a rated training photo's score below its MOS, and
only the attributes and the penalty learn from it) and the dead zones of broken and colour cast
(`--fault-broken-dead-zone`, `--fault-colour-dead-zone`)."""

from __future__ import annotations

import pytest
import torch
from edgeiqa.train.attribute_head import BROKEN_INDEX, EXPOSURE_INDEX, AttributeBranch
from edgeiqa.train.data.camera_faults import ATTRIBUTE_NAMES
from edgeiqa.train.fault_training import FaultTraining
from edgeiqa.train.heads import IQAHead


def _guarded(head: IQAHead, emb: torch.Tensor, weight: float = 1.0, margin: float = 0.05) -> FaultTraining:
    """Fault training over rated photos `emb` (dataset indices 0..N-1), with no copies."""
    return FaultTraining(head=head, clean=emb, clean_row={i: i for i in range(len(emb))}, copies=torch.zeros(0, 8),
                         labels=torch.zeros(0, 6), groups=[], broken=[], floor=0.0, margin=margin, rank_weight=1.0,
                         attribute_weight=1.0, device="cpu", rated_guard_weight=weight)


def _head_with_penalty(fire: bool) -> IQAHead:
    """A head whose attribute branch reads every input at severity 3 (fire) or 0 (not)."""
    torch.manual_seed(0)
    head = IQAHead(in_dim=8, hidden=16, attributes=True, dead_zone=0.25)
    with torch.no_grad():
        head.attributes.fc2.weight.zero_()
        head.attributes.fc2.bias.fill_(3.0 if fire else -3.0)
        if not fire:
            head.attributes.fc2.bias[EXPOSURE_INDEX] = 0.0  # exposure is signed: 0 is a right exposure
    return head


def test_no_penalty_no_guard_loss():
    head = _head_with_penalty(fire=False)
    emb = torch.randn(5, 8)
    with torch.no_grad():
        target = head.mos(emb)  # the MOS head reads every photo right
    loss = _guarded(head, emb).rated_guard(list(range(5)), target)
    assert float(loss) == 0.0


def test_guard_trains_the_penalty_down_and_leaves_the_mos_head_alone():
    head = _head_with_penalty(fire=True)
    emb = torch.randn(5, 8)
    with torch.no_grad():
        target = head.mos(emb)
        before = float((target - head(emb)).mean())  # the penalty: MOS head minus score
    assert before > 0.5  # the penalty pushes every score well under its MOS
    guard = _guarded(head, emb)
    rows = list(range(5))
    loss = guard.rated_guard(rows, target)
    assert float(loss) > 0.4
    loss.backward()
    for name in ("fc1", "fc2", "fc3"):
        assert getattr(head, name).weight.grad is None, f"the MOS head's {name} must not learn from the guard"
    assert head.attributes.penalty_raw.grad is not None and float(head.attributes.penalty_raw.grad.abs().sum()) > 0

    opt = torch.optim.SGD(head.attributes.parameters(), lr=0.5)
    for _ in range(50):
        opt.zero_grad()
        guard.rated_guard(rows, target).backward()
        opt.step()
    assert float(guard.rated_guard(rows, target)) < 0.05 * float(loss)


def test_guard_weight_scales_the_hinge():
    head = _head_with_penalty(fire=True)
    emb = torch.randn(4, 8)
    with torch.no_grad():
        target = head.mos(emb)
    one = float(_guarded(head, emb, weight=1.0).rated_guard([0, 1, 2, 3], target))
    two = float(_guarded(head, emb, weight=2.0).rated_guard([0, 1, 2, 3], target))
    assert abs(two - 2 * one) < 1e-6 and one > 0


def _attributes(broken: float = 0.0, colour_cast: float = 0.0) -> torch.Tensor:
    """Published attributes of one frame: this broken probability and colour cast, no other fault."""
    a = torch.zeros(1, 6)
    a[0, BROKEN_INDEX] = broken
    a[0, ATTRIBUTE_NAMES.index("colour_cast")] = colour_cast
    return a


def test_a_broken_probability_under_its_dead_zone_costs_nothing():
    shared = AttributeBranch(in_dim=4, dead_zone=0.25)
    own = AttributeBranch(in_dim=4, dead_zone=0.25, own_dead_zones={"broken": 0.5})
    undecided = _attributes(0.4)  # what many authentic photos got with the shared dead zone
    assert float(shared.penalty(undecided)) > 0.04
    assert float(own.penalty(undecided)) == 0.0
    broken = _attributes(0.99)
    assert float(own.penalty(broken)) > 0.15  # a frame called broken still pays


def test_a_colour_cast_under_its_own_dead_zone_costs_nothing_and_other_attributes_keep_theirs():
    own = AttributeBranch(in_dim=4, dead_zone=0.25, own_dead_zones={"colour_cast": 0.5})
    assert float(own.penalty(_attributes(colour_cast=0.45))) == 0.0  # a colourful scene, not a cast
    assert float(own.penalty(_attributes(colour_cast=1.0))) > 0.15  # the worst rendered cast still pays
    assert float(own.penalty(_attributes(broken=0.4))) > 0.04  # broken keeps the shared zone


def test_an_unknown_attribute_in_the_dead_zones_is_refused_by_name():
    with pytest.raises(ValueError, match="colour"):
        AttributeBranch(in_dim=4, own_dead_zones={"color_cast": 0.5})


def test_models_made_before_the_own_dead_zones_keep_their_penalty():
    from edgeiqa.train.config import TrainConfig

    for field in ("fault_broken_dead_zone", "fault_colour_dead_zone"):
        assert getattr(TrainConfig(), field) == TrainConfig().fault_dead_zone
        old = TrainConfig.from_dict({"camera_faults": 3})  # a checkpoint config without the fields
        assert getattr(old, field) == old.fault_dead_zone
