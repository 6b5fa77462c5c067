"""Oracle active-learning experiments: reveal truth labels round by round and measure.

Each strategy, for each seed, starts from the same random initial labelled set (the seed's),
fits with the product's own code (:func:`app.services.models.training.fit_calibrated`), scores the
held-out test split, and buys the next batch from the unlabelled training pool with
:func:`app.services.loop.strategy.choose_batch`, the function the live worker uses. The summary
says, per round, whether a strategy beats random beyond the spread over seeds, how many labels
it needed to reach random's final metric (and random's best, where random's curve fell at the
end), and after which round labelling stopped paying.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from app.services.experiments.draws import Draws
from app.services.experiments.maps import pool_colours, start_map
from app.services.experiments.spec import ExperimentSpec
from app.services.experiments.summary import summarise
from app.services.loop.screening import screen
from app.services.loop.strategy import Batch, choose_batch, screens
from app.services.models.metrics import PER_CLASS, is_redshift, posterior_metrics
from app.services.models.training import (
    ArrayCache,
    FittedModel,
    SurveyData,
    fit_calibrated,
    rows_for,
)
from bayes.acquisition import STRATEGIES
from bayes.baselines.network import DeepEnsemble, MCDropoutModel
from bayes.calibrated import Predictive
from bayes.cold_start import typiclust
from bayes.config import ModelConfig, TaskConfig
from bayes.predict import Posterior
from bayes.pretrained import Encoder, load_encoder, with_architecture
from bayes.targets import known as known_labels
from storage.arrays import ArrayStore

# (strategy, seed, the run's records so far) after each round; each record's "picked" holds the
# pool positions its batch bought, so a run can resume from them (:func:`run_experiment`)
RoundHook = Callable[[str, int, list[dict[str, Any]]], None]
Done = Mapping[str, Mapping[int, list[dict[str, Any]]]]  # strategy -> seed -> records
Predictor = Callable[[np.ndarray, int], Posterior]  # (rows, seed) -> posterior
# A selection outside the product's strategies (research's oracle references): (posterior,
# task, the pool's truth, k, rng, beta) -> Batch.
Chooser = Callable[[Posterior, str, np.ndarray, int, np.random.Generator, float], Batch]
Fitted = FittedModel | Predictive  # what a warm round starts from


def metric_names(task: TaskConfig) -> tuple[tuple[str, ...], bool]:
    """(reported metrics, primary first; whether higher is better for the primary one)."""
    if task.is_classification:
        return ("accuracy", "macro_f1", "ece"), True
    if is_redshift(task):
        return ("sigma_nmad", "outlier_fraction", "coverage_68"), False
    return ("rmse", "r2", "coverage_68"), False


def recorded_metrics(task: TaskConfig) -> tuple[str, ...]:
    """What each round records: the reported metrics and, for a classification, every class's
    recall and average precision (the rare-class view: how soon mergers are found, per
    strategy; AP also while the model still calls none of them a merger)."""
    names, _ = metric_names(task)
    if not task.is_classification:
        return names
    return names + tuple(f"{m}_{c}" for m in PER_CLASS for c in task.classes)


def rarest_class(task: TaskConfig, y: np.ndarray) -> str | None:
    """The class with the fewest galaxies among the known truths y (vote counts: their
    majority class); None for a regression or when no truth is known."""
    if not task.is_classification:
        return None
    y = np.asarray(y)[known_labels(task, y)]
    y = y.argmax(1) if y.ndim == 2 else y.astype(int)
    counts = np.bincount(y, minlength=len(task.classes))
    present = np.flatnonzero(counts)
    return task.classes[present[counts[present].argmin()]] if present.size else None


def run_experiment(
    store: ArrayStore,
    data: SurveyData,
    spec: ExperimentSpec,
    *,
    on_round: RoundHook | None = None,
    choosers: Mapping[str, Chooser] | None = None,
    done: Done | None = None,
) -> dict[str, Any]:
    """Every strategy and seed, aggregated and judged against random -> a JSON-ready dict.

    choosers: selections by name for strategies that are not the product's (research's oracle
    references, which see the truth). done: records of an interrupted run of the same spec
    (what ``on_round`` was given); a finished run is kept, an unfinished one goes on from its
    last round (its labelled set rebuilt from the picks; the fit of a round is a function of
    its labelled set and seed) — except a ``warm`` run, which needs its previous model and
    starts again.
    """
    choosers = dict(choosers or {})
    unknown = [s for s in spec.strategies if s not in STRATEGIES and s not in choosers]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; choose from {STRATEGIES}")
    tasks = {t.name: t for t in data.tasks}
    if spec.task not in tasks:
        raise ValueError(f"survey has no task {spec.task!r}; it has {tuple(tasks)}")
    task = tasks[spec.task]
    config = ModelConfig(
        tasks=(task,), modalities=spec.modalities, epochs=spec.epochs, **spec.model
    )
    encoder = load_encoder(spec.encoder) if spec.encoder else None
    pool, test = rows_for(data, "train", config), rows_for(data, "test", config)
    val = rows_for(data, "validation", config)  # each round recalibrates on it
    if encoder is not None:
        if not set(spec.modalities) <= set(encoder.config.modalities):
            raise ValueError(
                f"the encoder reads {encoder.config.modalities}; the experiment asks for "
                f"{spec.modalities}"
            )
        # an encoder pretrained on more modalities keeps its architecture, and the galaxies
        # are shown to it without the modalities the experiment leaves out
        config = with_architecture(config, encoder.config)
    if spec.initial + spec.rounds * spec.batch > len(pool):
        raise ValueError(
            f"{spec.initial} + {spec.rounds} x {spec.batch} labels exceed the pool of {len(pool)}"
        )
    cache = ArrayCache.load(store, data.refs, np.concatenate([pool, test, val]))
    if encoder is not None and set(config.modalities) != set(spec.modalities):
        cache = cache.only(spec.modalities)
    screened = screens(task) if spec.screen is None else spec.screen
    flagged = (
        screen(cache.take(pool), modalities=spec.modalities)
        if screened
        else np.zeros(len(pool), bool)
    )
    # The screen reads raw pixels; every fit and prediction after it reads stretched ones,
    # so stretch once here rather than in every round.
    cache = cache.stretched()
    done = done or {}
    start = start_map(cache, pool, encoder) if spec.initial_by == "typiclust" else None
    runs: dict[str, list[list[dict[str, Any]]]] = {}
    for s in spec.strategies:
        runs[s] = []
        for seed in range(spec.first_seed, spec.first_seed + spec.seeds):
            before = list(done.get(s, {}).get(seed, []))
            args = (s, seed, pool, test, cache, flagged, on_round, choosers, before, encoder)
            args += (start,)
            runs[s].append(_run(store, data, spec, config, *args))
    runs = {s: [[_without_picks(r) for r in run] for run in seeds] for s, seeds in runs.items()}
    names, higher = metric_names(task)
    out = summarise(runs, metric=names[0], higher_is_better=higher)
    out["setup"] = {
        **dataclasses.asdict(spec),
        "pool": len(pool),
        "test": len(test),
        "screened": screened,
        "flagged": int(flagged.sum()),
        "metrics": list(names),
        "rare_class": rarest_class(task, data.targets.values[task.name][test]),
        "model_config": config.to_dict(),
    }
    return out


def _run(
    store: ArrayStore,
    data: SurveyData,
    spec: ExperimentSpec,
    config: ModelConfig,
    strategy: str,
    seed: int,
    pool: np.ndarray,
    test: np.ndarray,
    cache: ArrayCache,
    flagged: np.ndarray,
    on_round: RoundHook | None,
    choosers: Mapping[str, Chooser],
    records: list[dict[str, Any]],
    encoder: Encoder | None,
    start: np.ndarray | None,
) -> list[dict[str, Any]]:
    """One strategy and seed: a record per round (labels, test metrics, batch bought), going
    on after ``records`` (an interrupted run's) where it can. start: the pool's map for a
    TypiClust first set (None: random)."""
    task = config.tasks[0]
    names = recorded_metrics(task)
    labelled = np.zeros(len(pool), bool)
    rng = np.random.default_rng(seed)
    first = (
        rng.choice(len(pool), spec.initial, replace=False)
        if start is None
        else typiclust(start, spec.initial, rng=rng)
    )
    labelled[first] = True
    drawn = Draws(len(pool))
    drawn.add(first, np.ones(len(first)), np.zeros(len(first), bool))
    if spec.warm and len(records) <= spec.rounds:
        records = []  # a warm round needs the model of the one before: start again
    for record in records:
        picked = np.asarray(record.get("picked", []), np.int64)
        labelled[picked] = True
        is_control = np.arange(len(picked)) >= len(picked) - record.get("n_control", 0)
        drawn.add(picked, np.asarray(record.get("ratios", np.ones(len(picked)))), is_control)
    previous = None
    colours = pool_colours(cache, pool) if strategy == "colour_herding" else None
    for r in range(len(records), spec.rounds + 1):
        warm = spec.warm and previous is not None
        epochs, floor = (spec.epochs, spec.min_steps)
        if warm:
            epochs, floor = spec.warm_epochs, spec.warm_min_steps
        cfg = dataclasses.replace(config, seed=seed, epochs=epochs, min_steps=floor)
        weights = drawn.weights(labelled) if spec.debias else None
        predictor, fit_seconds, previous = _fit(
            store, data, spec, cfg, pool[labelled], cache, previous if warm else None, encoder,
            weights,
        )  # fmt: skip
        fit_health = previous.health if isinstance(previous, FittedModel) else None
        metrics = posterior_metrics(
            predictor(test, seed),
            {task.name: data.targets.values[task.name][test]},
            cfg.tasks,
            data.present(test),
        )[task.name]
        record = {
            "round": r,
            "n_labels": int(labelled.sum()),
            "metrics": {k: metrics[k] for k in names},
            "fit_seconds": fit_seconds,
            "healthy": None if fit_health is None else fit_health.ok,
            "health": None if fit_health is None else fit_health.summary(),
            "restarts": previous.restarts if isinstance(previous, FittedModel) else 0,
        }
        if weights is not None:  # Kish's effective sample size, as a fraction of the labels
            record["weights_ess"] = float(weights.sum() ** 2 / (weights**2).sum() / len(weights))
        if r < spec.rounds:
            free = np.flatnonzero(~labelled)
            posterior = predictor(pool[free], seed * 1000 + r)
            rng = np.random.default_rng((seed, r))
            if strategy in choosers:
                truth = data.targets.values[task.name][pool[free]]
                batch = choosers[strategy](posterior, task.name, truth, spec.batch, rng, spec.beta)
            else:
                known = None
                if strategy in ("lcmd", "herding"):  # they start from the labelled galaxies
                    known = predictor(pool[labelled], seed * 1000 + r).embedding
                batch = choose_batch(
                    posterior,
                    task.name,
                    spec.batch,
                    rng,
                    strategy=strategy,
                    control_fraction=spec.control_fraction,
                    flagged=flagged[free],
                    beta=spec.beta,
                    labelled_embedding=known,
                    features=None if colours is None else colours[~labelled],
                    labelled_features=None if colours is None else colours[labelled],
                )
            labelled[free[batch.indices]] = True
            active = ~batch.is_control
            ratios = np.full(len(batch.indices), np.nan) if batch.ratios is None else batch.ratios
            drawn.add(free[batch.indices], ratios, batch.is_control)
            record |= {
                "picked": free[batch.indices].tolist(),
                "ratios": ratios.tolist(),
                "acquisition_mean": float(batch.values.mean()),
                "acquisition_mean_active": float(batch.values[active].mean())
                if active.any()
                else None,
                "n_control": int(batch.is_control.sum()),
                "n_flagged": int(flagged[free[batch.indices]].sum()),
            }
        records.append(record)
        if on_round is not None:
            on_round(strategy, seed, records)
    return records


def _without_picks(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("picked", "ratios")}


def _fit(
    store: ArrayStore,
    data: SurveyData,
    spec: ExperimentSpec,
    config: ModelConfig,
    rows: np.ndarray,
    cache: ArrayCache,
    previous: Fitted | None,
    encoder: Encoder | None = None,
    weights: np.ndarray | None = None,
) -> tuple[Predictor, float, Fitted]:
    """Fit on ``rows`` by ``spec.method``: (predictor, fit seconds, model a warm start reuses);
    with ``encoder``, on that pretrained trunk (frozen or fine-tuned: ``spec.encoder_update``);
    ``weights``: the rows' importance weights (``heads`` only)."""
    if spec.method == "heads":
        fitted = fit_calibrated(
            store,
            data,
            config,
            train_idx=rows,
            cache=cache,
            init_from=previous.model.base if previous is not None else None,
            update=spec.encoder_update if encoder is not None else "warm",  # type: ignore[arg-type]
            encoder=encoder.trunk if encoder is not None else None,
            device=spec.device,
            weights=weights,
        )

        def heads(at: np.ndarray, seed: int) -> Posterior:
            return fitted.model.predict(cache.take(at), seed=seed)

        return heads, fitted.fit_seconds, fitted
    name = config.tasks[0].name
    model = (
        DeepEnsemble(config, members=spec.members)
        if spec.method == "ensemble"
        else MCDropoutModel(config)
    )
    start = time.perf_counter()
    model.fit(cache.take(rows), {name: data.targets.values[name][rows]}, init_from=previous)
    seconds = time.perf_counter() - start
    return lambda at, seed: model.predict(cache.take(at), seed=seed), seconds, model
