import numpy as np
import pytest
from edgeiqa.train.metrics import fit_logistic, iqa_metrics, krcc, plcc, rmse, srcc
from scipy import stats


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_scipy_on_random_data(seed):
    rng = np.random.default_rng(seed)
    mos = rng.uniform(0, 100, 200)
    pred = mos + rng.normal(0, 20, 200)
    assert srcc(pred, mos) == pytest.approx(stats.spearmanr(pred, mos).statistic, abs=1e-12)
    assert plcc(pred, mos) == pytest.approx(stats.pearsonr(pred, mos).statistic, abs=1e-12)
    assert krcc(pred, mos) == pytest.approx(stats.kendalltau(pred, mos).statistic, abs=1e-12)
    assert rmse(pred, mos) == pytest.approx(np.sqrt(np.mean((pred - mos) ** 2)))


def test_metrics_match_scipy_with_ties():
    rng = np.random.default_rng(3)
    mos = rng.integers(1, 6, 300).astype(float)  # 5 distinct values: many ties
    pred = np.round(mos + rng.normal(0, 1, 300))
    assert srcc(pred, mos) == pytest.approx(stats.spearmanr(pred, mos).statistic, abs=1e-12)
    assert krcc(pred, mos) == pytest.approx(stats.kendalltau(pred, mos).statistic, abs=1e-12)


def test_logistic_fit_improves_plcc_on_a_monotone_nonlinearity():
    x = np.linspace(-3, 3, 100)
    mos = 1 / (1 + np.exp(-2 * x)) * 100
    m = iqa_metrics(x, mos)
    assert m["srcc"] == pytest.approx(1.0)
    assert m["plcc_fitted"] > m["plcc"]
    assert m["plcc_fitted"] > 0.999
    assert np.allclose(fit_logistic(x, mos), mos, atol=0.5)


def test_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError):
        iqa_metrics(np.zeros(3), np.zeros(4))


def test_tiny_sets_report_the_fitted_values_as_missing_instead_of_crashing():
    from edgeiqa.train.metrics import iqa_metrics

    for n in (3, 4):
        m = iqa_metrics(np.arange(n, dtype=float), np.arange(n, dtype=float) ** 2)
        assert m["srcc"] == pytest.approx(1.0) and m["fitted"] == 0
        assert np.isnan(m["plcc_fitted"]) and np.isnan(m["rmse_fitted"])
    m = iqa_metrics(np.arange(6, dtype=float), np.arange(6, dtype=float) ** 2)
    assert m["fitted"] == 1 and np.isfinite(m["plcc_fitted"])


def test_training_on_a_32_image_csv_runs_to_the_end(tmp_path):
    """A 32-image dataset leaves 3-6 images in val/test: the old logistic fit crashed there."""
    import csv

    from conftest import make_quality_images, train_config
    from edgeiqa.train.trainer import train

    root = tmp_path / "data"
    rows = make_quality_images(root / "images", n=32)
    with open(root / "data.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "mos"])
        w.writerows([(f"images/{n}", f"{m:.3f}") for n, m, _ in rows])
    res = train(train_config(root, tmp_path / "out", epochs=1, hidden=8, split_ratios=(0.8, 0.1, 0.1)))
    assert res.test["n"] >= 3 and np.isnan(res.test["plcc_fitted"])
