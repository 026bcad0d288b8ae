"""The graded-ordering metrics a camera team reads: within-group Spearman and pairs ordered right."""

import pytest
from edgeiqa.train.graded import expand_references, graded_ordering, synthetic_groups


def test_perfect_reversed_and_tied_orderings():
    groups = ["a"] * 4 + ["b"] * 4
    levels = [0, 1, 2, 3] * 2
    perfect = graded_ordering(groups, levels, [90, 70, 50, 30, 80, 60, 40, 20])
    assert perfect == {"mean_spearman": pytest.approx(1.0), "pairs_right": 1.0, "groups": 2, "pairs": 12}
    reversed_ = graded_ordering(groups, levels, [30, 50, 70, 90] * 2)
    assert reversed_["mean_spearman"] == pytest.approx(-1.0) and reversed_["pairs_right"] == 0.0
    flat = graded_ordering(groups, levels, [5.0] * 8)  # a constant score orders nothing
    assert flat["mean_spearman"] == 0.0 and flat["pairs_right"] == 0.0
    with pytest.raises(ValueError, match="nothing to order"):
        graded_ordering(["a", "b"], [1, 1], [1.0, 2.0])


def test_synthetic_rows_group_by_photo_crop_and_distortion_with_the_clean_crop_in_each():
    rows = [{"path": "images/coffee_c0_reference_0.png", "ref": "coffee", "distortion": "reference", "level": "0"},
            {"path": "images/coffee_c0_jpeg_1.png", "ref": "coffee", "distortion": "jpeg", "level": "1"},
            {"path": "images/coffee_c0_jpeg_2.png", "ref": "coffee", "distortion": "jpeg", "level": "2"},
            {"path": "images/coffee_c0_white_noise_1.png", "ref": "coffee", "distortion": "white_noise", "level": "1"},
            {"path": "images/coffee_c1_jpeg_1.png", "ref": "coffee", "distortion": "jpeg", "level": "1"}]
    keys, levels = synthetic_groups(rows)
    assert keys[1] == keys[2] != keys[3] and keys[1] != keys[4]
    k, lv, sc = expand_references(keys, levels, [100.0, 80.0, 60.0, 70.0, 50.0])
    res = graded_ordering(k, lv, sc)
    assert res["groups"] == 2  # c0|jpeg (3 levels) and c0|white_noise (2); c1 has no clean crop
    assert res["pairs_right"] == 1.0
