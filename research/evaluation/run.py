"""The seed paper's comparison on a survey's held-out test split.

Each variant (single modalities, image + photometry, and the three fusion strategies over all
modalities) is fitted on the training split, recalibrated on the validation split and scored on
the test galaxies that have one of its modalities; the classical baselines (linear, random
forest on photometry) are fitted on the training labels of the photometry variant (same
galaxies, same target source: truth or current labels) and scored on its test galaxies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.services.data.arrays import load_arrays
from app.services.models.metrics import (
    classification_metrics,
    posterior_metrics,
    regression_metrics,
)
from app.services.models.training import (
    ArrayCache,
    EpochHook,
    FittedModel,
    SurveyData,
    fit_calibrated,
    predict_rows,
    rows_for,
    subset,
    trainable_tasks,
)
from bayes.baselines.classical import classical_model, photometry_features
from bayes.config import ModelConfig, TaskConfig
from bayes.data import MODALITIES
from bayes.predict import Posterior
from bayes.targets import known
from storage.arrays import ArrayStore

VARIANTS: dict[str, tuple[tuple[str, ...], str]] = {
    "image": (("image",), "feature"),
    "spectrum": (("spectrum",), "feature"),
    "photometry": (("photometry",), "feature"),
    "image+photometry": (("image", "photometry"), "feature"),
    "early": (MODALITIES, "early"),
    "feature": (MODALITIES, "feature"),
    "late": (MODALITIES, "late"),
}
CLASSICAL = ("linear", "forest")


@dataclass
class Result:
    """One row of the comparison: a variant's test metrics and its costs."""

    name: str
    kind: str  # "bayes" or "classical"
    modalities: tuple[str, ...]
    n_train: int
    fit_seconds: float
    predict_seconds: float
    metrics: dict[str, dict[str, Any]]
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)
    train_labels: dict[str, int] = field(default_factory=dict)  # known targets fitted, per task
    health: str = ""  # the fit's health on the validation split, in words ("" for classical)


@dataclass
class Comparison:
    """Every result, and the test posteriors (with truths and modality flags) kept for plots."""

    results: list[Result]
    posteriors: dict[str, tuple[Posterior, dict[str, np.ndarray], np.ndarray]]


def run_variant(
    store: ArrayStore,
    data: SurveyData,
    name: str,
    *,
    epochs: int,
    seed: int = 0,
    on_epoch: EpochHook | None = None,
    cache: ArrayCache | None = None,
    **config: Any,
) -> tuple[Result, Posterior, np.ndarray]:
    """Fit one named variant and score it on the test split -> (result, posterior, test rows)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose from {tuple(VARIANTS)}")
    modalities, fusion = VARIANTS[name]
    cfg = ModelConfig(
        tasks=trainable_tasks(data),
        modalities=modalities,
        fusion=fusion,
        epochs=epochs,
        seed=seed,
        **config,
    )
    fitted = fit_calibrated(store, data, cfg, on_epoch=on_epoch, cache=cache)
    result, posterior, test = score(store, data, name, fitted)
    result.train_labels = train_labels(data, rows_for(data, "train", cfg), cfg.tasks)
    return result, posterior, test


def train_labels(
    data: SurveyData, rows: np.ndarray, tasks: tuple[TaskConfig, ...]
) -> dict[str, int]:
    """{task: known targets among the galaxies at ``rows``}: the labels a fit on them learns."""
    return {t.name: int(known(t, data.targets.values[t.name][rows]).sum()) for t in tasks}


def score(
    store: ArrayStore, data: SurveyData, name: str, fitted: FittedModel
) -> tuple[Result, Posterior, np.ndarray]:
    """Test-split metrics of a fitted model -> (result, posterior, test rows)."""
    cfg = fitted.model.config
    test = rows_for(data, "test", cfg)
    start = time.perf_counter()
    posterior = predict_rows(fitted.model, store, data.refs, test)
    seconds = time.perf_counter() - start
    targets = subset(data.targets.values, test)
    metrics = posterior_metrics(posterior, targets, cfg.tasks, data.present(test))
    result = Result(
        name=name,
        kind="bayes",
        modalities=cfg.modalities,
        n_train=fitted.n_train,
        fit_seconds=fitted.fit_seconds,
        predict_seconds=seconds,
        metrics=metrics,
        calibration=fitted.model.calibration.to_dict(),
        health=("after one refit: " if fitted.restarts else "") + fitted.health.summary(),
    )
    return result, posterior, test


def training_cache(store: ArrayStore, data: SurveyData) -> ArrayCache:
    """Every usable training galaxy's arrays, read and image-normalised once for all variants."""
    everything = ModelConfig(tasks=trainable_tasks(data), modalities=MODALITIES)
    return ArrayCache.load(store, data.refs, rows_for(data, "train", everything)).stretched()


def run_classical(store: ArrayStore, data: SurveyData, kind: str, *, seed: int = 0) -> Result:
    """A classical baseline on photometry features, one sklearn model per task.

    Fitted on exactly the training galaxies and labels of the Bayesian photometry variant
    (:func:`rows_for` with photometry, then each task's known targets) and scored on its test
    galaxies, so the two differ only in the model.
    """
    tasks = trainable_tasks(data)
    photometry = ModelConfig(tasks=tasks, modalities=("photometry",))
    train, test = (rows_for(data, s, photometry) for s in ("train", "test"))
    x_train = photometry_features(load_arrays(store, data.refs, train))
    x_test = photometry_features(load_arrays(store, data.refs, test))
    present = data.present(test)
    both = present[:, 0] & present[:, 1]
    metrics: dict[str, dict[str, Any]] = {}
    fit_seconds = predict_seconds = 0.0
    for t in tasks:
        y_train, y_test = data.targets.values[t.name][train], data.targets.values[t.name][test]
        ok_train, ok_test = known(t, y_train), known(t, y_test)
        task = "classification" if t.is_classification else "regression"
        model = classical_model(kind, task=task, seed=seed)
        start = time.perf_counter()
        model.fit(x_train[ok_train], y_train[ok_train])
        fit_seconds += time.perf_counter() - start
        start = time.perf_counter()
        if t.is_classification:
            probs = np.zeros((ok_test.sum(), len(t.classes)))
            probs[:, model.classes_] = model.predict_proba(x_test[ok_test])
            metrics[t.name] = classification_metrics(probs, y_test[ok_test], t.classes)
        else:
            pred = model.predict(x_test[ok_test])
            groups = {"image_spectrum": both[ok_test], "rest": ~both[ok_test]}
            metrics[t.name] = regression_metrics(t, pred, y_test[ok_test], groups)
        predict_seconds += time.perf_counter() - start
    return Result(
        name=f"{kind} (photometry)",
        kind="classical",
        modalities=("photometry",),
        n_train=len(train),
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        metrics=metrics,
        train_labels=train_labels(data, train, tasks),
    )


def compare(
    store: ArrayStore,
    data: SurveyData,
    *,
    variants: Sequence[str] = tuple(VARIANTS),
    epochs: int,
    seed: int = 0,
    on_variant: Callable[[str], EpochHook | None] | None = None,
    **config: Any,
) -> Comparison:
    """Every variant and classical baseline on ``data``'s test split.

    on_variant(name) is called before each variant and may return its per-epoch hook.
    """
    results, posteriors = [], {}
    cache = training_cache(store, data)
    for name in variants:
        hook = on_variant(name) if on_variant is not None else None
        result, posterior, test = run_variant(
            store, data, name, epochs=epochs, seed=seed, on_epoch=hook, cache=cache, **config
        )
        results.append(result)
        posteriors[name] = (posterior, subset(data.targets.values, test), data.present(test))
    for kind in CLASSICAL:
        if on_variant is not None:
            on_variant(kind)
        results.append(run_classical(store, data, kind, seed=seed))
    return Comparison(results, posteriors)
