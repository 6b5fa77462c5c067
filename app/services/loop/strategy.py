"""How Galactive picks the next galaxies to label: the one place for the default strategy, the
random control share of every batch and when the artifact screen applies.

PRODUCT.md's lesson: plain top-k uncertainty chases outliers (broken photometry) and can lose to
random. So the default for a classification is stochastic (power-sampled BALD), a random
control share keeps measuring the active strategy against random, and galaxies the artifact
screen flags can be left to the control (opt-in: see SCREEN_BY_DEFAULT). For a regression the
default is random selection: on real SDSS photo-z every active strategy measured lost to it
(docs/real_data.md), and the default must never lose to random. ``galactive experiment`` calls
:func:`choose_batch`, and the live label queue (``app/services/loop/queues.py``) applies the same
rule to stored scores, so what is measured is what the product does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bayes import acquisition
from bayes.config import TaskConfig
from bayes.predict import Posterior

DEFAULT_STRATEGY = "power_bald"  # classifications; stochastic: never plain top-k on a large pool
# Regressions. On kcorrect's real SDSS photometry (5 seeds, 1000-2000 labels, paired) power_bald
# was behind random in 5 of 5 seeds, power_epig in 4 of 5 (and with its bias undone by LURE
# weights), LCMD in 3 of 5, kernel herding in 4 of 5 (on the embedding and on colours alike),
# top-k BALD in 5 of 5 (docs/real_data.md).
REGRESSION_STRATEGY = "random"
# What `galactive experiment` measures against random for a regression when not told: the
# closest measured candidate, so the comparison keeps being made.
REGRESSION_CANDIDATE = "power_epig"
CONTROL_FRACTION = 0.1  # share of every batch drawn uniformly at random, as a control
TARGET_SIZE = 200  # unlabelled galaxies whose predictions EPIG targets
# Measured (docs/experiments.md): on the mock, screening did not help power_bald on photo-z
# (one round worse than random, against none unscreened) and hurt morphology (it hid the
# artifact class), so the screen is opt-in.
SCREEN_BY_DEFAULT = False
ARTIFACT_CLASS = "artifact"
# A strategy's "acquisition value": its own per-galaxy score, or BALD for strategies without one
# (random, k-center, BADGE, BatchBALD), so every batch is valued on one scale.
_VALUE_OF = {
    "random": "bald",
    "kcenter": "bald",
    "badge": "bald",
    "batch_bald": "bald",
    "lcmd": "bald",
    "herding": "bald",
    "colour_herding": "bald",
}
_HERDS = ("lcmd", "herding", "colour_herding")  # batches that start from the labelled galaxies


class Batch(NamedTuple):
    """The galaxies to label next, as positions in the posterior's rows.

    indices: (k,) int64, active picks first, then the control; is_control: (k,) bool, True
    for the uniformly random control picks; values: (k,) float64 acquisition value of each pick
    (:func:`acquisition_values`), to store with the label and to watch for a plateau.
    ratios: (k,) float64 each pick's probability at its draw over a uniform draw's
    (:func:`bayes.acquisition.draw_ratios`): 1 for a random pick, NaN for a pick no random draw
    made (top-k, batch-only strategies), which no importance weight can undo.
    """

    indices: np.ndarray
    is_control: np.ndarray
    values: np.ndarray
    ratios: np.ndarray | None = None


def default_strategy(task: TaskConfig) -> str:
    """The strategy the product uses for ``task``: by kind, as measured against random."""
    return DEFAULT_STRATEGY if task.is_classification else REGRESSION_STRATEGY


def screens(task: TaskConfig, *, enabled: bool = SCREEN_BY_DEFAULT) -> bool:
    """Whether the artifact screen guards ``task``'s active picks: only when ``enabled``, and
    never for a classification with an artifact class (flagged galaxies are a class to learn)."""
    return enabled and not (task.is_classification and ARTIFACT_CLASS in task.classes)


def task_inputs(posterior: Posterior, task: str) -> dict[str, np.ndarray]:
    """The arrays :mod:`bayes.acquisition` reads for ``task``: probs, or loc and scale."""
    if task in posterior.probs:
        return {"probs": posterior.probs[task]}
    if task in posterior.loc:
        return {"loc": posterior.loc[task], "scale": posterior.scale[task]}
    raise ValueError(f"the posterior has no task {task!r}")


def target_inputs(
    posterior: Posterior, task: str, rows: np.ndarray, *, size: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """EPIG's target set: the task's arrays of ``size`` galaxies drawn from ``rows``."""
    chosen = rng.choice(rows, min(size, len(rows)), replace=False)
    return {f"{k}_target": v[chosen] for k, v in task_inputs(posterior, task).items()}


def acquisition_values(
    posterior: Posterior,
    task: str,
    strategy: str,
    *,
    rows: np.ndarray | None = None,
    target: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Acquisition value under ``strategy`` (BALD for batch-only ones) of the galaxies at
    ``rows`` (default all); per galaxy, so scoring only the picks costs only the picks."""
    name = _VALUE_OF.get(strategy, strategy)
    inputs = task_inputs(posterior, task)
    if rows is not None:
        inputs = {key: value[rows] for key, value in inputs.items()}
    return acquisition.scores_for(name, **inputs, **(target or {}))


def choose_batch(
    posterior: Posterior,
    task: str,
    k: int,
    rng: np.random.Generator,
    *,
    exclude: np.ndarray | None = None,
    strategy: str | None = None,
    control_fraction: float = CONTROL_FRACTION,
    flagged: np.ndarray | None = None,
    beta: float = 1.0,
    target_size: int = TARGET_SIZE,
    labelled_embedding: np.ndarray | None = None,
    features: np.ndarray | None = None,
    labelled_features: np.ndarray | None = None,
) -> Batch:
    """The next ``k`` galaxies to label for ``task`` from the N galaxies of ``posterior``.

    exclude: (N,) bool, galaxies never to pick (labelled, leased). round(k * control_fraction)
    picks are uniformly random among the rest; the others come from ``strategy`` (any of
    ``bayes.acquisition.STRATEGIES``) among the galaxies not ``flagged`` ((N,) bool, from
    :func:`app.services.loop.screening.screen`; flagged ones stay open to the control).
    EPIG strategies target ``target_size`` random unflagged candidates. Fewer than k come back
    only if fewer than k galaxies are eligible. Deterministic for a seeded ``rng``. strategy
    None: the task kind's default (:func:`default_strategy`). labelled_embedding: (M, D)
    embeddings of the galaxies already labelled, the centres LCMD and kernel herding start from
    (with the batch's control picks). features, labelled_features: (N, F) and (M, F) colour
    features (:func:`bayes.colours.colour_features`) of the same galaxies, the space
    colour_herding herds in.
    """
    if strategy is None:
        classification = task in posterior.probs
        strategy = DEFAULT_STRATEGY if classification else REGRESSION_STRATEGY
    if strategy not in acquisition.STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {acquisition.STRATEGIES}")
    n = len(posterior.embedding)
    if k < 1 or (exclude is not None and np.asarray(exclude, bool).all()):
        raise ValueError("no galaxy is left to choose from")
    target = None
    ratios = np.ones(0)

    def pick(candidates: np.ndarray, m: int, control: np.ndarray) -> np.ndarray:
        nonlocal target, ratios
        if strategy in ("epig", "power_epig"):
            rows = np.flatnonzero(candidates)
            target = target_inputs(posterior, task, rows, size=target_size, rng=rng)
        centres = None
        if strategy in _HERDS:  # around the labelled galaxies and the control
            space, labelled = posterior.embedding, labelled_embedding
            if strategy == "colour_herding":
                space, labelled = _need_features(features), labelled_features
            known = [space[control]]
            if labelled is not None:
                known.insert(0, np.asarray(labelled, space.dtype))
            centres = np.concatenate(known)
        picks = acquisition.select(
            strategy,
            m,
            rng=rng,
            **task_inputs(posterior, task),
            embedding=posterior.embedding,
            **(target or {}),
            beta=beta,
            exclude=~candidates,
            centres=centres,
            features=features,
        )
        ratios = np.full(len(picks), np.nan)
        if strategy.startswith("power_"):
            rows = np.flatnonzero(candidates)
            scores = acquisition.scores_for(
                strategy, **{k: v[rows] for k, v in task_inputs(posterior, task).items()},
                **(target or {}),
            )  # fmt: skip
            ratios = acquisition.draw_ratios(scores, np.searchsorted(rows, picks), beta=beta)
        return picks

    active, control = acquisition.with_control(
        n,
        k,
        pick,
        rng=rng,
        control_fraction=control_fraction,
        exclude=exclude,
        flagged=flagged,
        all_control=strategy == "random",
    )
    indices = np.concatenate([active, control]).astype(np.int64)
    is_control = np.arange(len(indices)) >= len(active)
    values = acquisition_values(posterior, task, strategy, rows=indices, target=target)
    drawn = np.concatenate([ratios, np.ones(len(control))])  # a control pick is uniform
    return Batch(indices, is_control, values.astype(np.float64), drawn)


def _need_features(features: np.ndarray | None) -> np.ndarray:
    if features is None:
        raise ValueError("colour_herding needs the galaxies' colour features")
    return np.asarray(features, np.float64)
