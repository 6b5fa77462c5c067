"""Importance weights that undo the bias of a stochastic selection (Farquhar, Gal & Rainforth
2021, "On statistical bias in active learning", the LURE estimator).

An active strategy labels a set shaped unlike the survey, so a fit that weighs each labelled
galaxy alike minimises the loss of the wrong population. When every pick was drawn at random
(power sampling: probability proportional to score^beta among the galaxies still unlabelled),
weighting the m-th pick's loss by

    v_m = 1 + (N - M) / (N - m) * (1 / ((N - m + 1) q_m) - 1)

makes the mean weighted loss over the M labelled galaxies an unbiased estimate of the mean
loss over the N galaxies of the pool (q_m: that pick's probability at its draw, N - m + 1: the
galaxies unlabelled then). A uniform pick has (N - m + 1) q_m = 1 and weight 1.
"""

from __future__ import annotations

import numpy as np

from bayes.acquisition.arrays import TINY, as_array


def draw_ratios(scores: np.ndarray, picks: np.ndarray, *, beta: float = 1.0) -> np.ndarray:
    """(k,) each pick's probability at its draw over a uniform draw's, for picks drawn in
    order by :func:`bayes.acquisition.power_sample` from ``scores`` (n,) with ``beta``.

    Drawing k without replacement by Gumbel-top-k is drawing one at a time with probability
    proportional to scores^beta among those left (Kool et al. 2019), so the j-th pick's
    probability is its weight over the weights still left, and a uniform draw's 1 / (n - j).
    """
    s = as_array("scores", scores, 1)
    picks = np.asarray(picks, np.int64)
    if picks.ndim != 1 or len(np.unique(picks)) != len(picks):
        raise ValueError("picks must be distinct positions, in the order they were drawn")
    if len(picks) and not (picks.min() >= 0 and picks.max() < len(s)):
        raise ValueError(f"picks must be positions in 0..{len(s) - 1}")
    logw = beta * np.log(np.maximum(s, TINY))
    unpicked = np.ones(len(s), bool)
    ratios = np.empty(len(picks))
    left = scale = 0.0
    for j, p in enumerate(picks):
        if not left > 1e-6 * scale:  # first, or cancellation looms: renormalise those left
            w = np.exp(np.minimum(logw - logw[unpicked].max(), 0))  # no overflow
            left = scale = w[unpicked].sum()
        ratios[j] = (len(s) - j) * w[p] / left
        left -= w[p]
        unpicked[p] = False
    return ratios


def lure_weights(order: np.ndarray, ratio: np.ndarray, pool: int) -> np.ndarray:
    """(M,) LURE weights of M labelled galaxies of a pool of ``pool``: ``order`` (M,) each one's
    place in the order of acquisition (1..M, the first labels included), ``ratio`` (M,) its
    probability at its draw over a uniform draw's (:func:`draw_ratios`; 1 for a random pick).
    Their mean weighted loss is an unbiased estimate of the pool's mean loss."""
    m = np.asarray(order, np.float64)
    r = as_array("ratio", ratio, 1)
    if m.shape != r.shape:
        raise ValueError(f"order {m.shape} and ratio {r.shape} differ in shape")
    big_m = len(m)
    if big_m > pool or not np.array_equal(np.sort(m), np.arange(1, big_m + 1)):
        raise ValueError(f"order must be a permutation of 1..{big_m}, with {big_m} <= {pool}")
    if (r <= 0).any():
        raise ValueError("a labelled galaxy's draw ratio must be > 0")
    left = pool - m  # N - m: 0 only for the pool's very last galaxy, whose weight is 1
    factor = np.divide(pool - big_m, left, out=np.zeros_like(left), where=left > 0)
    return 1 + factor * (1 / r - 1)
