"""Metrics against hand computations (tolerance 1e-6: the arithmetic is exact in float64)."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from bayes import metrics


def test_redshift_metrics_by_hand():
    z_true = np.array([0.0, 1.0, 0.5, 0.2])
    z_pred = np.array([0.1, 1.2, 0.5, 0.6])
    # delta = [0.1, 0.1, 0.0, 0.4/1.2]; median = 0.1; |d - 0.1| = [0, 0, 0.1, 0.2333]
    out = metrics.redshift_metrics(z_pred, z_true)
    assert out["bias"] == pytest.approx(0.1, abs=1e-6)
    assert out["sigma_nmad"] == pytest.approx(1.4826 * 0.05, abs=1e-6)
    assert out["outlier_fraction"] == pytest.approx(0.25, abs=1e-6)


def test_accuracy_and_macro_f1_by_hand():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp0 -> 0
    assert metrics.accuracy(y_pred, y_true) == pytest.approx(0.6, abs=1e-6)
    assert metrics.macro_f1(y_pred, y_true) == pytest.approx(1.3 / 3, abs=1e-6)
    assert metrics.macro_f1(y_pred, y_true) == pytest.approx(
        f1_score(y_true, y_pred, average="macro"), abs=1e-6
    )


def test_ece_by_hand():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.55, 0.45]])
    y = np.array([0, 1, 1, 0])
    # bins of width 1/15: 0.9 -> bin 13 (acc 0.5, conf 0.9); 0.7 -> bin 10 (acc 1, conf 0.7);
    # 0.55 -> bin 8 (acc 1, conf 0.55). ECE = (2*0.4 + 0.3 + 0.45) / 4
    assert metrics.expected_calibration_error(probs, y) == pytest.approx(1.55 / 4, abs=1e-6)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert metrics.expected_calibration_error(perfect, np.array([0, 1])) == pytest.approx(0.0)


def test_coverage_and_pit_by_hand():
    draws = np.tile(np.arange(101.0), (3, 1))  # quantiles of 0..100 are 100 q exactly
    y = np.array([50.0, 20.0, 97.0])
    # 68% interval [16, 84] holds 50 and 20, not 97; 95% interval [2.5, 97.5] holds all three
    assert metrics.interval_coverage(draws, y, level=0.68) == pytest.approx(2 / 3, abs=1e-6)
    assert metrics.interval_coverage(draws, y, level=0.95) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(metrics.pit(draws, y), [51 / 101, 21 / 101, 98 / 101], atol=1e-6)
    density, edges = metrics.pit_histogram(np.array([0.05, 0.15, 0.15, 0.95]), bins=10)
    np.testing.assert_allclose(density, [2.5, 5, 0, 0, 0, 0, 0, 0, 0, 2.5], atol=1e-6)
    assert len(edges) == 11


def test_rmse_r2_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.0, 2.0, 3.0, 6.0])
    assert metrics.rmse(p, y) == pytest.approx(1.0, abs=1e-6)  # sqrt(4 / 4)
    assert metrics.r2(p, y) == pytest.approx(1 - 4 / 5, abs=1e-6)  # SS_tot = 5
