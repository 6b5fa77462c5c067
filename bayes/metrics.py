"""Evaluation metrics, pure numpy, with the definitions of PRODUCT.md.

Sample axis convention: probabilities (N, C) or draws (N, T) (ours; BaaL puts samples last).
"""

from __future__ import annotations

import numpy as np

OUTLIER_THRESHOLD = 0.15


def redshift_delta(z_pred: np.ndarray, z_true: np.ndarray) -> np.ndarray:
    """(N,) -> Δ = (z_pred - z_true) / (1 + z_true), (N,)."""
    return (z_pred - z_true) / (1 + z_true)


def redshift_metrics(z_pred: np.ndarray, z_true: np.ndarray) -> dict[str, float]:
    """bias = median Δ; sigma_nmad = 1.4826 median|Δ - median Δ|; outlier fraction |Δ| > 0.15."""
    d = redshift_delta(z_pred, z_true)
    bias = float(np.median(d))
    return {
        "bias": bias,
        "sigma_nmad": float(1.4826 * np.median(np.abs(d - bias))),
        "outlier_fraction": float(np.mean(np.abs(d) > OUTLIER_THRESHOLD)),
    }


def accuracy(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Fraction of (N,) predicted labels equal to the true ones."""
    return float(np.mean(y_pred == y_true))


def macro_f1(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Unweighted mean F1 over the classes present in y_true or y_pred (F1 = 0 if undefined)."""
    scores = []
    for c in np.union1d(y_true, y_pred):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, *, bins: int = 15) -> float:
    """ECE over ``bins`` equal-width bins of top-class probability; (N, C), (N,) -> float.

    Bin b holds confidences in [b/bins, (b+1)/bins), the last bin also holds 1.0;
    ECE = sum_b (n_b / N) |accuracy_b - mean confidence_b|.
    """
    conf = probs.max(1)
    correct = probs.argmax(1) == y_true
    which = np.minimum((conf * bins).astype(int), bins - 1)
    acc = np.bincount(which, weights=correct, minlength=bins)
    mean_conf = np.bincount(which, weights=conf, minlength=bins)
    return float(np.sum(np.abs(acc - mean_conf)) / len(conf))


def interval_coverage(draws: np.ndarray, y_true: np.ndarray, *, level: float) -> float:
    """Fraction of (N,) truths inside the central ``level`` interval of their (N, T) draws."""
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return float(np.mean((y_true >= lo) & (y_true <= hi)))


def pit(draws: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """Probability integral transform: fraction of each galaxy's T draws <= its truth, (N,)."""
    return np.mean(draws <= y_true[:, None], axis=1)


def pit_histogram(values: np.ndarray, *, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """PIT density histogram on [0, 1] -> (density (bins,), edges (bins + 1,)); flat = 1."""
    return np.histogram(values, bins=bins, range=(0.0, 1.0), density=True)


def rmse(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Root mean squared error of (N,) predictions."""
    return float(np.sqrt(np.mean((y_pred - y_true) ** 2)))


def r2(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot."""
    return float(1 - np.sum((y_true - y_pred) ** 2) / np.sum((y_true - y_true.mean()) ** 2))
