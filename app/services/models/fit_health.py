"""Whether a fit may be used: its health on the validation split, and whether a new version
may replace the active one.

Every fit is checked (:mod:`bayes.checks.health`): the loss fell, recalibration stayed modest,
intervals cover what they claim within what the validation size allows, and the headline
metric is not worse, beyond noise, than the product's random forest fitted on the same labels.
A retrain round's version replaces the active one only if it is healthy and not worse than
the active version beyond noise on the same validation galaxies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.services.models.metrics import central_coverage, point_estimate, predictive_pit
from bayes.baselines.classical import baseline_features, forest_predictions
from bayes.calibrated import CalibratedModel
from bayes.checks import health
from bayes.config import ModelConfig, TaskConfig
from bayes.data import GalaxyArrays
from bayes.predict import Posterior
from bayes.targets import known

BASELINE = "random forest"
LEVELS = (0.68, 0.95)


def baseline_predictions(
    config: ModelConfig,
    train: GalaxyArrays,
    train_targets: Mapping[str, np.ndarray],
    validation: GalaxyArrays,
    *,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """{task: (n_val,) random-forest point predictions} from the same training labels.

    Tasks with fewer than two labels, and models whose modalities have no classical
    features (image only), get none.
    """
    x_train = baseline_features(train, config.modalities)
    if x_train is None or not len(validation):
        return {}
    x_val = baseline_features(validation, config.modalities)
    if x_val is None or x_val.shape[1] != x_train.shape[1]:
        return {}  # no validation galaxy has photometry: nothing to compare on
    out = {}
    for t in config.tasks:
        if t.kind == "dirichlet_multinomial":
            continue
        y = train_targets[t.name]
        ok = known(t, y)
        if ok.sum() < 2:
            continue
        out[t.name] = forest_predictions(
            x_train[ok], y[ok], x_val, classification=t.is_classification, seed=seed
        )
    return out


def constant_guess(task: TaskConfig, y: np.ndarray, n: int) -> np.ndarray | None:
    """(n,) copies of the known training labels' median or commonest class; None if none."""
    known_y = y[known(task, y)]
    if task.kind == "dirichlet_multinomial" or not len(known_y):
        return None
    guess = np.bincount(known_y).argmax() if task.is_classification else np.median(known_y)
    return np.full(n, guess)


def assess_fit(
    model: CalibratedModel,
    posterior: Posterior,
    targets: Mapping[str, np.ndarray],
    baseline: Mapping[str, np.ndarray],
    train_targets: Mapping[str, np.ndarray],
    *,
    seed: int = 0,
) -> health.Health:
    """Every health check of a recalibrated fit on its validation galaxies.

    posterior: the recalibrated validation posterior; targets and baseline: per task, (n,)
    over the same galaxies; train_targets: the labels it was fitted on (for the constant guess).
    """
    rng = np.random.default_rng(seed)
    calibration = model.calibration
    checks = [health.loss_check(model.base.loss_history_)]
    for name, tau in calibration.temperature.items():
        checks.append(health.calibration_check(name, "temperature", tau))
    for name, s in calibration.spread.items():
        checks.append(health.calibration_check(name, "spread", s))
    for t in model.config.tasks:
        y = targets.get(t.name)
        if y is None or t.kind == "dirichlet_multinomial":
            continue
        ok = known(t, y)
        if not t.is_classification and ok.sum() >= health.MIN_DECIDE:
            pit = predictive_pit(t, posterior, y, ok)
            coverage = {level: central_coverage(pit, level) for level in LEVELS}
            checks.append(health.coverage_check(t.name, coverage, int(ok.sum())))
        guess = constant_guess(t, train_targets[t.name], len(y))
        if guess is not None:
            metric = health.headline_metric(t)
            model = point_estimate(t, posterior)[ok]
            c = health.compare(metric, guess[ok], model, y[ok], rng=rng)
            checks.append(health.skill_check(t.name, c))
        if t.name in baseline:
            c = health.compare(
                health.headline_metric(t),
                point_estimate(t, posterior)[ok],
                baseline[t.name][ok],
                y[ok],
                rng=rng,
            )
            checks.append(health.baseline_check(t.name, BASELINE, c))
    return health.Health(tuple(checks))


@dataclass(frozen=True)
class Decision:
    """Whether a new version replaces the active one, and why, in words with the figures."""

    activate: bool
    reason: str
    n_validation: int
    comparisons: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the version's metrics)."""
        return {
            "activate": self.activate,
            "reason": self.reason,
            "n_validation": self.n_validation,
            "comparisons": self.comparisons,
        }


def activation_decision(
    new: Posterior,
    old: Posterior | None,
    targets: Mapping[str, np.ndarray],
    tasks: tuple[TaskConfig, ...],
    fit_health: health.Health,
    *,
    old_name: str | None = None,
    seed: int = 0,
) -> Decision:
    """Activate a healthy new version unless it is worse than the active one (``old``, None if
    there is none) beyond noise on some task's headline metric, over the same galaxies."""
    n = max((int(known(t, targets[t.name]).sum()) for t in tasks if t.name in targets), default=0)
    if not fit_health.ok:
        return Decision(False, f"unhealthy fit: {fit_health.summary()}", n, {})
    if old is None:
        return Decision(True, "healthy; no active version to compare with", n, {})
    rng = np.random.default_rng(seed)
    comparisons, worse, undecided = {}, [], []
    for t in tasks:
        y = targets.get(t.name)
        if y is None or t.kind == "dirichlet_multinomial" or not _has(old, t):
            continue
        ok = known(t, y)
        c = health.compare(
            health.headline_metric(t),
            point_estimate(t, new)[ok],
            point_estimate(t, old)[ok],
            y[ok],
            rng=rng,
        )
        comparisons[t.name] = {
            "metric": c.metric,
            "new": c.a,
            "active": c.b,
            "difference_interval": [c.low, c.high] if c.decided else None,
            "n": c.n,
            "worse": c.worse,
            "decided": c.decided,
        }
        words = f"{t.name} {c.metric} {c.a:.4g} against {c.b:.4g} for {old_name} (n={c.n})"
        if c.worse:
            worse.append(words)
        elif not c.decided:
            undecided.append(words)
    if worse:
        return Decision(False, "worse than the active version: " + "; ".join(worse), n, comparisons)
    if undecided and len(undecided) == len(comparisons):
        reason = "too few validation labels to compare (" + "; ".join(undecided) + ")"
        return Decision(True, f"healthy; {reason}", n, comparisons)
    return Decision(True, f"healthy and not worse than {old_name} beyond noise", n, comparisons)


def _has(posterior: Posterior, task: TaskConfig) -> bool:
    return task.name in (posterior.probs if task.is_classification else posterior.loc)
