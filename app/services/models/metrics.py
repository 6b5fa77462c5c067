"""Held-out metrics of a posterior, per task, with PRODUCT.md's definitions (bayes.checks.metrics).

Point estimates: the class with the highest mean probability; the median draw of a redshift
(robust to the skew of log(1 + z)); the mean draw of other regressions (what RMSE rewards).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes.calibration import mixture_cdf
from bayes.checks import metrics as bm
from bayes.config import TaskConfig
from bayes.predict import Posterior
from bayes.targets import known

PIT_BINS = 10


def is_redshift(task: TaskConfig) -> bool:
    """Redshift-like tasks (fitted in log(1 + z)) get the photo-z metrics."""
    return task.transform == "log1p"


def point_estimate(task: TaskConfig, posterior: Posterior) -> np.ndarray:
    """(N,) class index or regression value in natural units."""
    if task.is_classification:
        return posterior.probs[task.name].mean(1).argmax(1)
    draws = posterior.draws[task.name]
    return np.median(draws, 1) if is_redshift(task) else draws.mean(1)


PER_CLASS = ("recall", "ap")  # the per-class metrics, keyed f"{metric}_{class}"


def classification_metrics(
    probs: np.ndarray, y: np.ndarray, classes: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Mean probabilities (N, C), classes (N,) -> accuracy, macro-F1, ECE (15 bins), n, and
    with class names ``recall_<class>`` and ``ap_<class>`` (average precision of its
    probability) for each (None where the class has no galaxy)."""
    pred = probs.argmax(1)
    out = {
        "n": len(y),
        "accuracy": bm.accuracy(pred, y),
        "macro_f1": bm.macro_f1(pred, y),
        "ece": bm.expected_calibration_error(probs, y),
    }
    if not classes:
        return out
    recall = bm.class_recall(pred, y, len(classes))
    ap = bm.class_average_precision(probs, y)
    out |= {f"recall_{c}": r for c, r in zip(classes, recall, strict=True)}
    return out | {f"ap_{c}": a for c, a in zip(classes, ap, strict=True)}


def regression_metrics(
    task: TaskConfig, pred: np.ndarray, y: np.ndarray, groups: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Point predictions and truths (N,) -> photo-z metrics or RMSE/R², plus each group's.

    groups: {name: (N,) bool}; redshift tasks report sigma_nmad_<name> per group.
    """
    out: dict[str, Any] = {"n": len(y)}
    if is_redshift(task):
        out |= bm.redshift_metrics(pred, y)
        for name, rows in groups.items():
            rows = rows.astype(bool)
            out[f"n_{name}"] = int(rows.sum())
            out[f"sigma_nmad_{name}"] = (
                bm.redshift_metrics(pred[rows], y[rows])["sigma_nmad"] if rows.any() else None
            )
    else:
        out |= {"rmse": bm.rmse(pred, y), "r2": bm.r2(pred, y)}
    return out


def predictive_pit(
    task: TaskConfig, posterior: Posterior, y: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """PIT of truths y[rows] under the posterior's T-component predictive mixture, (n,)."""
    return mixture_cdf(
        task, posterior.loc[task.name][rows], posterior.scale[task.name][rows], y[rows]
    )


def central_coverage(pit: np.ndarray, level: float) -> float:
    """Fraction of truths inside the central ``level`` interval: |PIT - 1/2| <= level / 2."""
    return float(bm.coverage_curve(pit, (level,))[0])


def predictive_cde_loss(
    task: TaskConfig, posterior: Posterior, y: np.ndarray, rows: np.ndarray
) -> float:
    """CDE loss of truths y[rows] under the predictive mixture, in natural units (z, not u).

    Exact (closed form) for Gaussian tasks, a per-galaxy grid for Student-t ones
    (:func:`bayes.checks.metrics.squared_density_integral`).
    """
    return bm.cde_loss(
        posterior.loc[task.name][rows],
        posterior.scale[task.name][rows],
        y[rows],
        df=task.df if task.kind == "student_t" else None,
        log1p=task.transform == "log1p",
    )


def calibration_metrics(
    task: TaskConfig, posterior: Posterior, y: np.ndarray, rows: np.ndarray
) -> dict[str, Any]:
    """A regression's calibration on truths y[rows], JSON-ready.

    coverage_68 / coverage_95; coverage at every nominal level (``coverage_levels`` and the
    matching ``coverage``); the PIT histogram (density in ``PIT_BINS`` bins on [0, 1]); the
    CDE loss. All from the exact predictive mixture, not from its T draws.
    """
    pit = predictive_pit(task, posterior, y, rows)
    density, _ = bm.pit_histogram(pit, bins=PIT_BINS)
    return {
        "coverage_68": central_coverage(pit, 0.68),
        "coverage_95": central_coverage(pit, 0.95),
        "coverage_levels": list(bm.NOMINAL_LEVELS),
        "coverage": [float(c) for c in bm.coverage_curve(pit)],
        "pit_histogram": [float(d) for d in density],
        "cde_loss": predictive_cde_loss(task, posterior, y, rows),
    }


def posterior_metrics(
    posterior: Posterior,
    targets: dict[str, np.ndarray],
    tasks: tuple[TaskConfig, ...],
    present: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """{task: metrics} on the galaxies whose target is known; present (N, 3) modality flags.

    Regressions add :func:`calibration_metrics` (coverage at 68%, 95% and every nominal level,
    the PIT histogram and the CDE loss), from the exact predictive mixture (quantiles of
    T = 32 draws would understate coverage: see :func:`bayes.calibration.mixture_cdf`).
    Redshift σ_NMAD is split into galaxies with image and spectrum and the rest.
    """
    out = {}
    both = present[:, 0] & present[:, 1]
    for t in tasks:
        y = targets.get(t.name)
        if y is None:
            continue
        ok = known(t, y)
        if not ok.any():
            continue
        if t.is_classification:
            probs = posterior.probs[t.name][ok].mean(1)
            out[t.name] = classification_metrics(probs, y[ok], t.classes)
            continue
        groups = {"image_spectrum": both[ok], "rest": ~both[ok]}
        m = regression_metrics(t, point_estimate(t, posterior)[ok], y[ok], groups)
        out[t.name] = m | calibration_metrics(t, posterior, y, ok)
    return out
