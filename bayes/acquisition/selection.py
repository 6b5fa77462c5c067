"""Every strategy behind one ``select``, and the product's selection rule ``with_control``:
an active batch beside a uniformly random control."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import numpy as np

from bayes.acquisition.arrays import TINY, as_array, check_k, top_k
from bayes.acquisition.batch_bald import batch_bald
from bayes.acquisition.diversity import badge, k_center, kernel_herding, lcmd
from bayes.acquisition.scores import (
    bald,
    epig,
    gaussian_entropy,
    margin,
    predictive_entropy,
    random_scores,
    regression_epig,
    regression_information_gain,
    variation_ratios,
)

_V = TypeVar("_V")

STRATEGIES: tuple[str, ...] = (
    "random",
    "entropy",
    "bald",
    "margin",
    "variation_ratios",
    "epig",
    "power_bald",
    "power_epig",
    "batch_bald",
    "kcenter",
    "badge",
    "lcmd",
    "herding",
    "colour_herding",
)
_TOP_K = ("entropy", "bald", "margin", "variation_ratios", "epig")
_POWER = {"power_bald": "bald", "power_epig": "epig"}
_BATCH_ONLY = ("batch_bald", "kcenter", "badge", "lcmd", "herding", "colour_herding")


def power_sample(
    scores: np.ndarray, k: int, *, beta: float = 1.0, rng: np.random.Generator
) -> np.ndarray:
    """Stochastic batch acquisition (Kirsch et al. 2023): k indices without replacement, drawn
    with probability proportional to scores^beta (Gumbel-top-k; scores floored at a tiny > 0)."""
    s = as_array("scores", scores, 1)
    k = check_k(k, len(s))
    if not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be finite and >= 0, got {beta!r}")
    keys = beta * np.log(np.maximum(s, TINY)) + rng.gumbel(size=len(s))
    return top_k(keys, k)


class Picks(NamedTuple):
    """A batch as positions: ``active`` picks in pick order, then uniformly random ``control``."""

    active: np.ndarray
    control: np.ndarray


def with_control(
    n: int,
    k: int,
    pick: Callable[[np.ndarray, int, np.ndarray], np.ndarray],
    *,
    rng: np.random.Generator,
    control_fraction: float,
    exclude: np.ndarray | None = None,
    flagged: np.ndarray | None = None,
    all_control: bool = False,
) -> Picks:
    """The product's one selection rule, for the experiment and the live queue alike.

    Of k picks among n galaxies (never one marked in ``exclude``, (n,) bool), round(k *
    control_fraction) are drawn uniformly at random, a control that keeps measuring the strategy
    against random; ``pick(candidates, m, control)`` chooses the other m among the rest ((n,)
    bool mask -> m indices), leaving out the ``flagged`` ones unless too few would be left.
    k is capped at the galaxies eligible; ``all_control`` is random selection.
    """
    if not 0 <= control_fraction <= 1:
        raise ValueError(f"control_fraction must be in [0, 1], got {control_fraction}")
    free = np.ones(n, bool) if exclude is None else ~np.asarray(exclude, bool)
    k = min(int(k), int(free.sum()))
    n_control = k if all_control else round(k * control_fraction)
    control = rng.choice(np.flatnonzero(free), n_control, replace=False).astype(np.int64)
    free[control] = False
    candidates = free if flagged is None else free & ~np.asarray(flagged, bool)
    if candidates.sum() < k - n_control:  # the screen left too few: let flagged ones back in
        candidates = free
    active = np.zeros(0, np.int64)
    if k > n_control:
        active = np.asarray(pick(candidates, k - n_control, control), dtype=np.int64)
    return Picks(active, control)


def _kind(strategy: str, probs: object, loc: object, scale: object) -> str:
    """The task: classification (probs given) or regression (loc and scale), else ValueError."""
    if probs is not None and (loc is not None or scale is not None):
        raise ValueError("pass probs (classification) or loc and scale (regression), not both")
    if probs is not None:
        return "classification"
    if loc is None and scale is None:
        raise ValueError(f"{strategy!r} needs probs (classification) or loc and scale (regression)")
    if loc is None or scale is None:
        missing = "loc" if loc is None else "scale"
        raise ValueError(f"{strategy!r} needs {missing} as well (regression takes loc and scale)")
    return "regression"


def _need(strategy: str, name: str, value: _V | None) -> _V:
    """``value``, or ValueError saying that ``strategy`` needs argument ``name``."""
    if value is None:
        raise ValueError(f"{strategy!r} needs {name}")
    return value


def scores_for(
    strategy: str,
    *,
    probs: np.ndarray | None = None,
    loc: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    probs_target: np.ndarray | None = None,
    loc_target: np.ndarray | None = None,
    scale_target: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The (N,) score a queue shows for a score-based strategy (power_* -> the underlying score,
    "random" -> uniform, needs rng); ValueError for batch-only strategies."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    if strategy in _BATCH_ONLY:
        raise ValueError(f"{strategy!r} has no per-galaxy score (its picks depend on each other)")
    kind = _kind(strategy, probs, loc, scale)
    base = _POWER.get(strategy, strategy)
    if base == "random":
        n = len(np.asarray(probs if kind == "classification" else loc))
        return random_scores(n, rng=_need(strategy, "rng", rng))
    if kind == "classification":
        if base == "epig":
            return epig(probs, _need(strategy, "probs_target", probs_target))
        functions = {
            "entropy": predictive_entropy,
            "bald": bald,
            "margin": margin,
            "variation_ratios": variation_ratios,
        }
        return functions[base](probs)
    if base in ("margin", "variation_ratios"):
        raise ValueError(f"{strategy!r} needs probs (it is defined for classes only)")
    if base == "epig":
        target = (
            _need(strategy, "loc_target", loc_target),
            _need(strategy, "scale_target", scale_target),
        )
        return regression_epig(loc, scale, *target)
    if base == "bald":
        return regression_information_gain(loc, scale)
    return gaussian_entropy(loc, scale)


def select(
    strategy: str,
    k: int,
    *,
    rng: np.random.Generator,
    probs: np.ndarray | None = None,
    loc: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    embedding: np.ndarray | None = None,
    probs_target: np.ndarray | None = None,
    loc_target: np.ndarray | None = None,
    scale_target: np.ndarray | None = None,
    beta: float = 1.0,
    exclude: np.ndarray | None = None,
    centres: np.ndarray | None = None,
    features: np.ndarray | None = None,
) -> np.ndarray:
    """Indices (<= k,) of the galaxies to label next, in pick order; never one marked in
    ``exclude`` (N,) bool. All eligible if fewer than k are; deterministic for a seeded rng.
    centres: (M, D) embeddings of galaxies already labelled, which LCMD clusters around and
    kernel herding counts as the labelled set. features: (N, F) catalogue features
    (:func:`bayes.colours.colour_features`) that colour_herding herds in instead of the
    embedding; its centres are then the labelled galaxies' features."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    given = {"probs": probs, "loc": loc, "scale": scale, "embedding": embedding}
    given["features"] = features
    given = {name: np.asarray(a) for name, a in given.items() if a is not None}
    if exclude is not None:
        given["exclude"] = np.asarray(exclude)
        if given["exclude"].dtype != bool or given["exclude"].ndim != 1:
            raise ValueError("exclude must be a 1-D boolean mask over the galaxies")
    sizes = {name: len(a) for name, a in given.items()}
    if not sizes:
        raise ValueError(f"{strategy!r} needs probs, loc and scale, or embedding")
    if len(set(sizes.values())) > 1:
        raise ValueError(f"inputs disagree on the number of galaxies: {sizes}")
    n = next(iter(sizes.values()))
    eligible = np.arange(n) if exclude is None else np.flatnonzero(~given.pop("exclude"))
    take = min(int(k), len(eligible))
    if take == 0:
        return np.zeros(0, dtype=np.int64)
    pool = {name: a[eligible] for name, a in given.items()}
    task = {"probs": pool.get("probs"), "loc": pool.get("loc"), "scale": pool.get("scale")}
    targets = {"probs_target": probs_target, "loc_target": loc_target, "scale_target": scale_target}
    if strategy == "random":
        picks = top_k(random_scores(len(eligible), rng=rng), take)
    elif strategy in _TOP_K:
        picks = top_k(scores_for(strategy, **task, **targets), take)
    elif strategy in _POWER:
        picks = power_sample(scores_for(strategy, **task, **targets), take, beta=beta, rng=rng)
    elif strategy == "batch_bald":
        picks = batch_bald(_need(strategy, "probs", task["probs"]), take, rng=rng)
    elif strategy == "kcenter":
        picks = k_center(_need(strategy, "embedding", pool.get("embedding")), take, rng=rng)
    elif strategy == "lcmd":
        pool_embedding = _need(strategy, "embedding", pool.get("embedding"))
        picks = lcmd(pool_embedding, take, centres=centres, rng=rng)
    elif strategy == "herding":
        pool_embedding = _need(strategy, "embedding", pool.get("embedding"))
        picks = kernel_herding(pool_embedding, take, centres=centres, rng=rng)
    elif strategy == "colour_herding":
        pool_features = _need(strategy, "features", pool.get("features"))
        picks = kernel_herding(pool_features, take, centres=centres, rng=rng)
    else:
        probs_pool = _need(strategy, "probs", task["probs"])
        picks = badge(
            probs_pool, _need(strategy, "embedding", pool.get("embedding")), take, rng=rng
        )
    return eligible[picks]
