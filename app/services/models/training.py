"""Fit a GalaxyModel on a survey's training split, keep its best epoch and recalibrate it on
the validation split, and check its health; an unhealthy fit is refitted once.

What a fit reads (:class:`SurveyData`, :func:`read_survey`) and what it gives back
(:class:`FittedModel`) live here too; recording the fit as a model version is
:mod:`app.services.models.new_version`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine

from app.services.data.arrays import SurveyRefs, load_arrays, stream_arrays, survey_refs
from app.services.data.split import assign_splits
from app.services.data.targets import Targets, TargetSource, load_targets, task_configs
from app.services.models.fit_health import (
    assess_fit,
    baseline_predictions,
)
from app.services.models.metrics import posterior_metrics
from bayes.calibrated import CalibratedModel
from bayes.calibration import fit_calibration
from bayes.checks.health import MIN_DECIDE, Health
from bayes.config import ModelConfig, TaskConfig
from bayes.data import MODALITIES, GalaxyArrays
from bayes.layers.fusion import Trunk
from bayes.model import GalaxyModel, Update
from bayes.predict import Posterior
from bayes.targets import known
from storage.arrays import ArrayStore
from storage.db import session_scope

EpochHook = Callable[[int, float], None]
SAMPLES = 32  # posterior samples for validation and evaluation
VAL_BATCH = 512  # galaxies per prediction batch on the validation split
RESTART_SEED = 7919  # added to the seed of an unhealthy fit's one refit
PlanHook = Callable[[int], None]  # the epochs a fit will run, told once before it starts


@dataclass(frozen=True)
class SurveyData:
    """Everything a fit reads from the database: references, targets, tasks and the split."""

    refs: SurveyRefs
    targets: Targets
    tasks: tuple[TaskConfig, ...]
    split: np.ndarray

    def present(self, idx: np.ndarray) -> np.ndarray:
        """(n, 3) bool: image, spectrum, photometry of the galaxies at ``idx``."""
        r = self.refs
        return np.stack([m.present[idx] for m in (r.image, r.spectrum, r.photometry)], 1)


@dataclass(frozen=True)
class ArrayCache:
    """GalaxyArrays of the galaxies at sorted positions ``idx``, loaded once for several fits."""

    idx: np.ndarray
    arrays: GalaxyArrays

    @classmethod
    def load(cls, store: ArrayStore, refs: SurveyRefs, idx: np.ndarray) -> ArrayCache:
        """Read the galaxies at ``idx`` (sorted and de-duplicated first)."""
        idx = np.unique(idx)
        return cls(idx, load_arrays(store, refs, idx, network=True))

    def stretched(self) -> ArrayCache:
        """The same galaxies with images normalised once (:meth:`GalaxyArrays.stretched`)."""
        return ArrayCache(self.idx, self.arrays.stretched())

    def only(self, modalities: tuple[str, ...]) -> ArrayCache:
        """The same galaxies without the modalities not named (:meth:`GalaxyArrays.only`)."""
        return ArrayCache(self.idx, self.arrays.only(modalities))

    def holds(self, idx: np.ndarray) -> bool:
        """Whether every galaxy at positions ``idx`` was loaded."""
        if len(idx) == 0:
            return True
        if len(self.idx) == 0:
            return False
        pos = np.minimum(np.searchsorted(self.idx, idx), len(self.idx) - 1)
        return bool(np.all(self.idx[pos] == idx))

    def take(self, idx: np.ndarray) -> GalaxyArrays:
        """The cached galaxies at positions ``idx``; ValueError if one was not loaded."""
        if not self.holds(idx):
            raise ValueError("ArrayCache.take: some galaxies were not loaded")
        return self.arrays.subset(np.searchsorted(self.idx, idx))


@dataclass(frozen=True)
class FittedModel:
    """A fitted model, its validation recalibration, metrics and health, and its cost.

    restarts: 1 when the first fit was unhealthy and this is its refit. held_out: the
    recalibrated posterior of the validation galaxies it was checked on.
    """

    model: CalibratedModel
    validation: dict[str, dict[str, Any]]
    n_train: int
    fit_seconds: float
    health: Health
    held_out: Posterior
    restarts: int = 0


def read_survey(
    engine: Engine, survey: str, *, source: TargetSource, split_seed: int = 0
) -> SurveyData:
    """References, targets (truth or current labels), tasks and split of ``survey``."""
    with session_scope(engine) as session:
        refs = survey_refs(session, survey)
        targets = load_targets(session, refs, source=source)
        tasks = task_configs(session, refs.survey_id)
    return SurveyData(refs, targets, tasks, assign_splits(refs.source_id, seed=split_seed))


def rows_for(data: SurveyData, split: str, config: ModelConfig) -> np.ndarray:
    """Galaxies of ``split`` that have one of the model's modalities and a target of its tasks."""
    cols = [MODALITIES.index(m) for m in config.modalities]
    idx = np.flatnonzero(data.split == split)
    usable = data.present(idx)[:, cols].any(1)
    labelled = np.zeros(len(idx), bool)
    for t in config.tasks:
        labelled |= known(t, data.targets.values[t.name][idx])
    return idx[usable & labelled]


def trainable_tasks(data: SurveyData) -> tuple[TaskConfig, ...]:
    """Tasks with at least two known training targets (a regression needs two to standardise)."""
    train = data.split == "train"
    keep = tuple(t for t in data.tasks if known(t, data.targets.values[t.name][train]).sum() >= 2)
    if not keep:
        raise ValueError("no task has at least two known targets in the training split")
    return keep


def subset(targets: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    """Every task's targets at ``idx``."""
    return {k: v[idx] for k, v in targets.items()}


def predict_rows(
    model: CalibratedModel | GalaxyModel,
    store: ArrayStore,
    refs: SurveyRefs,
    idx: np.ndarray,
    *,
    samples: int = SAMPLES,
    batch_size: int = 512,
    seed: int = 0,
) -> Posterior:
    """``model``'s posterior (recalibrated for a :class:`CalibratedModel`) of the galaxies at
    ``idx``, streamed from the array store."""
    batches = stream_arrays(store, refs, idx, batch_size=batch_size, network=True)
    return model.predict(batches, samples=samples, seed=seed)


def fit_calibrated(
    store: ArrayStore,
    data: SurveyData,
    config: ModelConfig,
    *,
    on_epoch: EpochHook | None = None,
    init_from: GalaxyModel | None = None,
    update: Update = "warm",
    train_idx: np.ndarray | None = None,
    cache: ArrayCache | None = None,
    on_plan: PlanHook | None = None,
    device: str | None = None,
    encoder: Trunk | None = None,
    weights: np.ndarray | None = None,
) -> FittedModel:
    """Fit on the training split, keep its best epoch on the validation split, recalibrate
    there, and check its health (:mod:`app.services.models.fit_health`).

    An unhealthy fit is refitted once from scratch with another seed; if that one is
    unhealthy too, it comes back with its failed checks, for the caller to reject. An
    unhealthy heads-only update comes back as it is: its caller's remedy is a full round.
    train_idx: the galaxies to fit on (default: every usable training galaxy); cache: arrays
    already loaded for a superset of them (several fits on one survey read it once), and for
    the validation galaxies too if it holds them (else those are read from the store);
    on_plan(epochs): told the epochs the fit will run, once ``min_steps`` has raised them.
    device: where to fit (:func:`bayes.device.resolve_device`; default the CPU).
    encoder: a pretrained trunk to start from (``GalaxyModel.fit(encoder=...)``).
    weights: importance weights of the ``train_idx`` galaxies' likelihoods (None: alike).
    """
    train = rows_for(data, "train", config) if train_idx is None else train_idx
    if len(train) == 0:
        raise ValueError(f"no training galaxy has modalities {config.modalities} and a target")
    if on_plan is not None:
        on_plan(config.epochs_for(len(train)))
    values = {t.name: data.targets.values[t.name] for t in config.tasks}
    val = rows_for(data, "validation", config)
    arrays = (
        load_arrays(store, data.refs, train, network=True) if cache is None else cache.take(train)
    )
    held_out = (
        cache.take(val)
        if cache is not None and cache.holds(val)
        else load_arrays(store, data.refs, val, network=True)
    )
    train_targets, val_targets = subset(values, train), subset(values, val)
    baseline = baseline_predictions(config, arrays, train_targets, held_out, seed=config.seed)
    fitted = fit_checked(
        config,
        arrays,
        train_targets,
        held_out,
        val_targets,
        baseline,
        init_from,
        update,
        on_epoch,
        device=device,
        encoder=encoder,
        weights=weights,
    )
    if not fitted.health.ok and update != "heads":
        retry = dataclasses.replace(config, seed=config.seed + RESTART_SEED)
        fitted = fit_checked(
            retry,
            arrays,
            train_targets,
            held_out,
            val_targets,
            baseline,
            None,
            update,
            on_epoch,
            device=device,
            encoder=encoder,
            weights=weights,
        )
        fitted = dataclasses.replace(fitted, restarts=1)
    return dataclasses.replace(fitted, n_train=len(train))


def fit_checked(
    config: ModelConfig,
    arrays: GalaxyArrays,
    targets: dict[str, np.ndarray],
    held_out: GalaxyArrays,
    held_out_targets: dict[str, np.ndarray],
    baseline: dict[str, np.ndarray],
    init_from: GalaxyModel | None,
    update: Update,
    on_epoch: EpochHook | None,
    *,
    select_epoch: bool = True,
    device: str | None = None,
    encoder: Trunk | None = None,
    weights: np.ndarray | None = None,
) -> FittedModel:
    """One fit with its validation-selected epoch, recalibration, metrics and health, from
    arrays in memory (no refit: :func:`fit_calibrated` decides that). select_epoch=False keeps
    the last epoch instead (for measuring what the selection buys); weights: the galaxies'
    importance weights (``GalaxyModel.fit``)."""
    start = time.perf_counter()
    model = GalaxyModel(config).fit(
        arrays,
        targets,
        init_from=init_from,
        update=update,
        on_epoch=on_epoch,
        validation=(held_out, held_out_targets) if select_epoch else None,
        device=device,
        encoder=encoder,
        weights=weights,
    )
    seconds = time.perf_counter() - start
    raw = model.predict(held_out.batches(VAL_BATCH), samples=SAMPLES)
    calibrated = CalibratedModel(
        model, fit_calibration(raw, held_out_targets, config.tasks, min_known=MIN_DECIDE)
    )
    posterior = calibrated.calibration.apply(raw, config.tasks)
    present = held_out.present()
    validation = posterior_metrics(posterior, held_out_targets, config.tasks, present)
    fit_health = assess_fit(
        calibrated, posterior, held_out_targets, baseline, targets, seed=config.seed
    )
    return FittedModel(calibrated, validation, len(arrays), seconds, fit_health, posterior)
