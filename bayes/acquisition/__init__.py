"""Acquisition: which galaxies to label next, from posterior samples (pure numpy).

Shapes follow ``bayes.predict``: class probabilities (N, T, C); regression ``loc`` / ``scale`` /
``draws`` (N, T). The T posterior samples are shared by every galaxy, which the joint scores
(EPIG, BatchBALD) rely on. Scores are (N,) float64, in nats where they are information, and
higher means more worth labelling. Definitions and measurements: ``docs/acquisition.md``.

Per-galaxy scores in ``scores``, BatchBALD in ``batch_bald``, batches for diversity in an
embedding in ``diversity``, the weights that undo a stochastic selection's bias in
``debias``, every strategy behind ``select`` in ``selection``.
"""

from bayes.acquisition.batch_bald import batch_bald
from bayes.acquisition.debias import draw_ratios, lure_weights
from bayes.acquisition.diversity import badge, k_center, kernel_herding, lcmd, median_bandwidth
from bayes.acquisition.scores import (
    bald,
    epig,
    margin,
    predictive_entropy,
    predictive_std,
    random_scores,
    regression_epig,
    regression_information_gain,
    variation_ratios,
)
from bayes.acquisition.selection import (
    STRATEGIES,
    Picks,
    power_sample,
    scores_for,
    select,
    with_control,
)

__all__ = [
    "STRATEGIES",
    "Picks",
    "badge",
    "bald",
    "batch_bald",
    "draw_ratios",
    "epig",
    "k_center",
    "kernel_herding",
    "lcmd",
    "lure_weights",
    "margin",
    "median_bandwidth",
    "power_sample",
    "predictive_entropy",
    "predictive_std",
    "random_scores",
    "regression_epig",
    "regression_information_gain",
    "scores_for",
    "select",
    "variation_ratios",
    "with_control",
]
