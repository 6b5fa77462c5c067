"""Sequential update vs retraining from scratch when 10% more labels arrive.

A base model is fitted on 90% of the training galaxies; then the last 10% arrive and the
model is updated three ways: retrained from scratch on all of them, warm-started from the base
(``update="warm"``, all labels, fewer epochs), or with the base posterior as the prior
(``update="prior"``, new labels only). Each is recalibrated on validation and scored on test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from app.services.models.training import (
    EpochHook,
    SurveyData,
    fit_calibrated,
    rows_for,
    trainable_tasks,
)
from bayes.config import ModelConfig
from research.evaluation.run import VARIANTS, Result, score, train_labels, training_cache
from storage.arrays import ArrayStore


def sequential_comparison(
    store: ArrayStore,
    data: SurveyData,
    *,
    epochs: int,
    update_epochs: int,
    variant: str = "feature",
    new_fraction: float = 0.1,
    seed: int = 0,
    on_step: Callable[[str], EpochHook | None] | None = None,
    **config: Any,
) -> list[Result]:
    """Results named base, scratch, warm and prior; ``fit_seconds`` is each step's cost.

    epochs: for the base and the retrain from scratch; update_epochs: for the warm start.
    The prior update runs ``epochs`` epochs over the new labels only.
    """
    if not 0 < new_fraction < 1:
        raise ValueError(f"new_fraction must be in (0, 1), got {new_fraction}")
    modalities, fusion = VARIANTS[variant]
    base_cfg = ModelConfig(
        tasks=trainable_tasks(data), modalities=modalities, fusion=fusion, epochs=epochs,
        seed=seed, **config,
    )  # fmt: skip
    train = rows_for(data, "train", base_cfg)
    new = np.random.default_rng(seed).random(len(train)) < new_fraction
    cache = training_cache(store, data)
    steps: list[tuple[str, ModelConfig, np.ndarray, str | None]] = [
        (f"base ({int((~new).sum())} galaxies)", base_cfg, train[~new], None),
        (f"scratch (all {len(train)})", base_cfg, train, None),
        (f"warm (all {len(train)}, {update_epochs} epochs)", _with(base_cfg, update_epochs), train,
         "warm"),
        (f"prior (new {int(new.sum())} only)", base_cfg, train[new], "prior"),
    ]  # fmt: skip
    results, base = [], None
    for name, cfg, rows, update in steps:
        hook = on_step(name) if on_step is not None else None
        fitted = fit_calibrated(
            store,
            data,
            cfg,
            on_epoch=hook,
            init_from=base.model.base if update else None,
            update=update or "warm",
            train_idx=rows,
            cache=cache,
        )
        base = base or fitted
        result = score(store, data, name, fitted)[0]
        result.train_labels = train_labels(data, rows, cfg.tasks)
        results.append(result)
    return results


def _with(config: ModelConfig, epochs: int) -> ModelConfig:
    return ModelConfig(**{**config.__dict__, "epochs": epochs})
