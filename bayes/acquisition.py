# Over 400 lines: every strategy behind one `select`, in docs/acquisition.md's order.
"""Acquisition: which galaxies to label next, from posterior samples (pure numpy).

Shapes follow ``bayes.predict``: class probabilities (N, T, C); regression ``loc`` / ``scale`` /
``draws`` (N, T). The T posterior samples are shared by every galaxy, which the joint scores
(EPIG, BatchBALD) rely on. Scores are (N,) float64, in nats where they are information, and
higher means more worth labelling. Definitions and measurements: ``docs/acquisition.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import numpy as np

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
_TINY = np.finfo(np.float64).tiny
_MAX_RHO2 = 1.0 - np.finfo(np.float64).eps  # caps a noise-free regression EPIG at ~18 nats
_BLOCK = 1 << 21  # float64 elements in one temporary block of the joint computations (16 MiB)


def _array(name: str, value: object, ndim: int) -> np.ndarray:
    """``value`` as a finite float64 array with ``ndim`` dimensions, else ValueError naming it."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _pair(loc_name: str, loc: object, scale_name: str, scale: object) -> tuple[np.ndarray, ...]:
    """Validated (N, T) Gaussian parameters of one set of galaxies."""
    mu, sigma = _array(loc_name, loc, 2), _array(scale_name, scale, 2)
    if mu.shape != sigma.shape:
        raise ValueError(f"{loc_name} {mu.shape} and {scale_name} {sigma.shape} differ in shape")
    return mu, sigma


def _check_k(k: int, n: int) -> int:
    """``k`` as an int in 1..n, else ValueError."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in 1..{n}, got {k!r}")
    return int(k)


def _entr(x: np.ndarray) -> np.ndarray:
    """Elementwise -x log x with 0 log 0 = 0 (x >= 0)."""
    return -x * np.log(np.maximum(x, _TINY))


def _top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first, ties broken by the lower index."""
    return np.argsort(-values, kind="stable")[:k].astype(np.int64)


def predictive_entropy(probs: np.ndarray) -> np.ndarray:
    """H[mean_t p_t] per galaxy: total predictive uncertainty (aleatoric + epistemic), nats."""
    return _entr(_array("probs", probs, 3).mean(1)).sum(-1)


def bald(probs: np.ndarray) -> np.ndarray:
    """BALD, I(y; w) = H[mean_t p_t] - mean_t H[p_t]: what a label would tell about the model."""
    p = _array("probs", probs, 3)
    return np.maximum(_entr(p.mean(1)).sum(-1) - _entr(p).sum(-1).mean(1), 0.0)


def variation_ratios(probs: np.ndarray) -> np.ndarray:
    """1 - max_c mean_t p_t(c): probability that the predicted class is wrong."""
    return 1.0 - _array("probs", probs, 3).mean(1).max(-1)


def margin(probs: np.ndarray) -> np.ndarray:
    """1 - (p_(1) - p_(2)) of the mean probabilities: near 1 when the top two classes tie."""
    mean = _array("probs", probs, 3).mean(1)
    if mean.shape[-1] < 2:
        raise ValueError(f"margin needs at least 2 classes, probs has {mean.shape[-1]}")
    top = np.partition(mean, -2, axis=-1)[:, -2:]
    return 1.0 - (top[:, 1] - top[:, 0])


def predictive_std(draws: np.ndarray) -> np.ndarray:
    """Standard deviation of the (N, T) predictive draws: total regression uncertainty."""
    return _array("draws", draws, 2).std(1)


def regression_information_gain(loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """BALD for a Gaussian regression, 0.5 log(total / aleatoric variance); the mixture over T
    is approximated by a Gaussian with total = var_t(loc) + mean_t(scale^2). Zero noise: huge."""
    mu, sigma = _pair("loc", loc, "scale", scale)
    aleatoric = np.maximum((sigma**2).mean(1), _TINY)
    return 0.5 * (np.log(mu.var(1) + aleatoric) - np.log(aleatoric))


def _gaussian_entropy(loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Differential entropy of the moment-matched Gaussian predictive (the regression "entropy")."""
    mu, sigma = _pair("loc", loc, "scale", scale)
    total = np.maximum(mu.var(1) + (sigma**2).mean(1), _TINY)
    return 0.5 * np.log(2 * math.pi * math.e * total)


def epig(probs_pool: np.ndarray, probs_target: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """EPIG (Smith et al. 2023): mean over target inputs x* of I(y; y* | x, x*), where
    p(y, y*) = mean_t p_t(y) p_t(y*). Memory O(chunk * M * C^2) for M target inputs."""
    pool = _array("probs_pool", probs_pool, 3)
    target = _array("probs_target", probs_target, 3)
    if pool.shape[1:] != target.shape[1:]:
        raise ValueError(
            f"probs_pool {pool.shape} and probs_target {target.shape} must share the T posterior"
            " samples and the C classes"
        )
    if len(target) == 0:
        raise ValueError("probs_target is empty")
    if isinstance(chunk, bool) or not isinstance(chunk, int | np.integer) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    n, t, c = pool.shape
    m = len(target)
    flat_target = target.transpose(1, 0, 2).reshape(t, m * c)
    h_pool = _entr(pool.mean(1)).sum(-1)
    h_target = _entr(target.mean(1)).sum(-1)
    out = np.empty(n)
    for start in range(0, n, chunk):
        block = pool[start : start + chunk]
        b = len(block)
        # joint[i, y, j, y*] = mean_t p_t(y | x_i) p_t(y* | x*_j); its marginals are the mean probs
        joint = (block.transpose(0, 2, 1).reshape(b * c, t) @ flat_target) / t
        h_joint = _entr(joint.reshape(b, c, m, c)).sum((1, 3))
        mi = h_pool[start : start + b, None] + h_target[None, :] - h_joint
        out[start : start + b] = np.maximum(mi, 0.0).mean(1)
    return out


def regression_epig(
    loc_pool: np.ndarray,
    scale_pool: np.ndarray,
    loc_target: np.ndarray,
    scale_target: np.ndarray,
) -> np.ndarray:
    """EPIG for Gaussian samples: (y, y*) over the T samples moment-matched by a bivariate
    Gaussian, I = -0.5 log(1 - rho^2), rho^2 = cov_t(loc, loc*)^2 / (var y var y*), target mean."""
    mu_p, sigma_p = _pair("loc_pool", loc_pool, "scale_pool", scale_pool)
    mu_t, sigma_t = _pair("loc_target", loc_target, "scale_target", scale_target)
    if mu_p.shape[1] != mu_t.shape[1]:
        raise ValueError(
            f"loc_pool {mu_p.shape} and loc_target {mu_t.shape} must share the T posterior samples"
        )
    if len(mu_t) == 0:
        raise ValueError("loc_target is empty")
    t, m = mu_p.shape[1], len(mu_t)
    d_pool = mu_p - mu_p.mean(1, keepdims=True)
    d_target = mu_t - mu_t.mean(1, keepdims=True)
    var_pool = (d_pool**2).mean(1) + (sigma_p**2).mean(1)  # noise is independent across inputs
    var_target = (d_target**2).mean(1) + (sigma_t**2).mean(1)
    out = np.empty(len(mu_p))
    rows = max(1, _BLOCK // m)
    for start in range(0, len(mu_p), rows):
        stop = start + rows
        cov = d_pool[start:stop] @ d_target.T / t
        denom = var_pool[start:stop, None] * var_target[None, :]
        rho2 = np.divide(cov**2, denom, out=np.zeros_like(cov), where=denom > 0)
        out[start:stop] = (-0.5 * np.log1p(-np.minimum(rho2, _MAX_RHO2))).mean(1)
    return out


def _joint_entropy(
    configs: np.ndarray, flat: np.ndarray, c: int, log_scale: np.ndarray | None = None
) -> np.ndarray:
    """H[y_batch, y_x] for every candidate x; configs (T, S) holds P(configuration | w_t).

    Exact (log_scale None): S = every configuration of the batch. Sampled: S configurations
    drawn from the batch's joint, column s scaled by exp(-log_scale[s]) so that it has mean 1.
    """
    t, s = configs.shape
    n = flat.shape[1] // c
    out = np.empty(n)
    step = max(1, _BLOCK // (s * c))
    for a in range(0, n, step):
        b = min(n, a + step)
        joint = (configs.T @ flat[:, a * c : b * c]) / t  # (S, candidates * C)
        terms = _entr(joint)
        if log_scale is not None:  # -p/p(s) log p summed over y_x, averaged over samples
            terms -= joint * log_scale[:, None]
        h = terms.reshape(s, b - a, c).sum((0, 2))
        out[a:b] = h if log_scale is None else h / s
    return out


def _extend_samples(
    configs: np.ndarray,
    log_scale: np.ndarray,
    p_new: np.ndarray,
    owner: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Add a galaxy to each sampled configuration: y ~ p_new[owner] (its own posterior sample)."""
    cdf = np.cumsum(p_new[owner], axis=1)  # (M, C)
    u = rng.random(len(owner))[:, None] * cdf[:, -1:]
    y = np.minimum((u >= cdf).sum(1), p_new.shape[1] - 1)
    configs = configs * p_new[:, y]
    scale = configs.mean(0)
    return configs / scale, log_scale + np.log(scale)


def batch_bald(
    probs: np.ndarray, k: int, *, num_samples: int = 1000, rng: np.random.Generator
) -> np.ndarray:
    """Greedy BatchBALD (Kirsch et al. 2019): indices (k,) in pick order maximising I(y_batch; w).

    Joint entropy exact while C^|batch| <= num_samples, then from num_samples sampled
    configurations; cost O(k N T C min(C^|batch|, num_samples)), so meant for small k.
    """
    p = _array("probs", probs, 3)
    n, t, c = p.shape
    k = _check_k(k, n)
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    flat = p.transpose(1, 0, 2).reshape(t, n * c)
    conditional = _entr(p).sum(-1).mean(1)  # E_w H[y_x | w]; the batch's own sum is constant
    exact: np.ndarray | None = np.ones((t, 1))
    owner = rng.integers(t, size=num_samples)  # posterior sample behind each sampled configuration
    sampled, log_scale = np.ones((t, num_samples)), np.zeros(num_samples)
    free = np.ones(n, dtype=bool)
    order = []
    for _ in range(k):
        if exact is not None:
            joint = _joint_entropy(exact, flat, c)
        else:
            joint = _joint_entropy(sampled, flat, c, log_scale)
        i = int(np.argmax(np.where(free, joint - conditional, -np.inf)))
        order.append(i)
        free[i] = False
        sampled, log_scale = _extend_samples(sampled, log_scale, p[i], owner, rng)
        if exact is not None and exact.shape[1] * c <= num_samples:
            exact = (exact[:, :, None] * p[i][:, None, :]).reshape(t, -1)
        else:
            exact = None
    return np.array(order, dtype=np.int64)


def power_sample(
    scores: np.ndarray, k: int, *, beta: float = 1.0, rng: np.random.Generator
) -> np.ndarray:
    """Stochastic batch acquisition (Kirsch et al. 2023): k indices without replacement, drawn
    with probability proportional to scores^beta (Gumbel-top-k; scores floored at a tiny > 0)."""
    s = _array("scores", scores, 1)
    k = _check_k(k, len(s))
    if not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be finite and >= 0, got {beta!r}")
    keys = beta * np.log(np.maximum(s, _TINY)) + rng.gumbel(size=len(s))
    return _top_k(keys, k)


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


def _sq_distances(x: np.ndarray, sq: np.ndarray, i: int) -> np.ndarray:
    """Squared Euclidean distances (N,) from every row of x (row norms sq) to row i."""
    return np.maximum(sq + sq[i] - 2.0 * (x @ x[i]), 0.0)


def k_center(
    embedding: np.ndarray,
    k: int,
    *,
    initial: np.ndarray | None = None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Greedy k-center core-set (Sener & Savarese 2018): k indices, each farthest from the chosen.

    initial: indices of existing centres (e.g. labelled galaxies), never returned; without them
    the first centre is drawn at random. Memory O(N) beyond the embedding.
    """
    x = _array("embedding", embedding, 2)
    n = len(x)
    chosen = np.zeros(n, dtype=bool)
    start = np.zeros(0, dtype=np.int64) if initial is None else np.asarray(initial).ravel()
    if not start.size:
        start = start.astype(np.int64)
    elif not np.issubdtype(start.dtype, np.integer):
        raise ValueError(f"initial must hold integer indices, got dtype {start.dtype}")
    elif not ((start >= 0) & (start < n)).all():
        raise ValueError(f"initial indices must lie in 0..{n - 1}")
    chosen[start] = True
    k = _check_k(k, n - int(chosen.sum()))
    sq = np.einsum("nd,nd->n", x, x)
    nearest = np.full(n, np.inf)
    for i in np.unique(start):
        np.minimum(nearest, _sq_distances(x, sq, i), out=nearest)
    order = []
    for step in range(k):
        if step == 0 and not start.size:
            i = int(rng.integers(n))
        else:
            i = int(np.argmax(np.where(chosen, -1.0, nearest)))
        order.append(i)
        chosen[i] = True
        np.minimum(nearest, _sq_distances(x, sq, i), out=nearest)
    return np.array(order, dtype=np.int64)


def _nearest_centre(
    x: np.ndarray, sq: np.ndarray, centres: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Squared distance (N,) from each row of x to its nearest row of centres, and its index."""
    c_sq = np.einsum("md,md->m", centres, centres)
    nearest = np.empty(len(x))
    owner = np.empty(len(x), dtype=np.int64)
    rows = max(1, _BLOCK // max(1, len(centres)))
    for start in range(0, len(x), rows):
        block = slice(start, start + rows)
        d2 = sq[block, None] + c_sq[None] - 2.0 * (x[block] @ centres.T)
        owner[block] = d2.argmin(1)
        nearest[block] = np.maximum(d2[np.arange(len(d2)), owner[block]], 0.0)
    return nearest, owner


def lcmd(
    embedding: np.ndarray,
    k: int,
    *,
    centres: np.ndarray | None = None,
    rng: np.random.Generator,
) -> np.ndarray:
    """LCMD, "largest cluster, maximum distance" (Holzmüller et al. 2023, bmdal_reg): k indices.

    Every galaxy belongs to its nearest centre (``centres``: (M, D) embeddings of the labelled
    galaxies, then each pick); each step takes the cluster with the largest sum of squared
    distances to its centre and picks its farthest member. Unlike k-center it weighs a region by
    how many galaxies it holds, so it spreads the labels like the pool without top-k's pull to
    the tails; it beat random across tabular regression benchmarks in the paper. Without centres
    the first pick is drawn at random. Memory O(N) beyond the embedding (blocks of 16 MiB).
    """
    x = _array("embedding", embedding, 2)
    n = len(x)
    k = _check_k(k, n)
    sq = np.einsum("nd,nd->n", x, x)
    if centres is not None and len(np.asarray(centres)):
        c = _array("centres", centres, 2)
        if c.shape[1] != x.shape[1]:
            raise ValueError(f"centres have {c.shape[1]} features, embedding {x.shape[1]}")
        nearest, owner = _nearest_centre(x, sq, c)
        first = len(c)
    else:
        nearest, owner, first = np.full(n, np.inf), np.zeros(n, dtype=np.int64), 0
    chosen = np.zeros(n, dtype=bool)
    order = []
    for step in range(k):
        if first == 0 and step == 0:
            i = int(rng.integers(n))
        else:
            spread = np.bincount(owner, weights=np.where(chosen, 0.0, nearest))
            if spread.max() > 0:
                largest = owner == int(np.argmax(spread))
                i = int(np.argmax(np.where(largest & ~chosen, nearest, -1.0)))
            else:  # every galaxy left coincides with a centre
                i = int(rng.choice(np.flatnonzero(~chosen)))
        order.append(i)
        chosen[i] = True
        d2 = _sq_distances(x, sq, i)
        closer = d2 < nearest
        nearest[closer], owner[closer] = d2[closer], first + step
        nearest[i], owner[i] = 0.0, first + step
    return np.array(order, dtype=np.int64)


def _kernel_sums(x: np.ndarray, sq: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    """(N,) sum over the rows of y of exp(-gamma |x_i - y_j|^2), in blocks of 16 MiB."""
    total = np.zeros(len(x))
    if not len(y):
        return total
    y_sq = np.einsum("md,md->m", y, y)
    rows = max(1, _BLOCK // len(y))
    for start in range(0, len(x), rows):
        block = slice(start, start + rows)
        d2 = np.maximum(sq[block, None] + y_sq[None] - 2.0 * (x[block] @ y.T), 0.0)
        total[block] = np.exp(-gamma * d2).sum(1)
    return total


def median_bandwidth(x: np.ndarray, *, rng: np.random.Generator, size: int = 512) -> float:
    """gamma = 1 / median squared distance between ``size`` random rows of x (the median
    heuristic): an RBF kernel exp(-gamma d^2) on the data's own scale, nothing tuned."""
    rows = x[rng.choice(len(x), min(size, len(x)), replace=False)]
    r_sq = np.einsum("nd,nd->n", rows, rows)
    d2 = r_sq[:, None] + r_sq[None] - 2.0 * rows @ rows.T
    positive = d2[np.triu_indices(len(rows), 1)]
    positive = positive[positive > 0]
    return 1.0 / float(np.median(positive)) if positive.size else 1.0


def kernel_herding(
    embedding: np.ndarray,
    k: int,
    *,
    centres: np.ndarray | None = None,
    reference: int = 2048,
    rng: np.random.Generator,
) -> np.ndarray:
    """Kernel herding (Chen, Welling & Smola 2010): k indices that bring the labelled galaxies'
    distribution closest to the survey's, in maximum mean discrepancy.

    The survey is the pool plus ``centres`` ((M, D) embeddings of the labelled galaxies); each
    pick is where the survey's kernel density most exceeds the labelled set's, so labels go
    where galaxies are and labels are not. A median of residuals (σ_NMAD) rewards a training
    set shaped like the test set, which random selection only draws on average; herding draws
    it by design. RBF kernel, bandwidth by :func:`median_bandwidth`; the survey's density from
    ``reference`` random galaxies. Time O(N (reference + M + k) D), memory O(N) beyond x.
    """
    x = _array("embedding", embedding, 2)
    n = len(x)
    k = _check_k(k, n)
    c = np.zeros((0, x.shape[1])) if centres is None else _array("centres", centres, 2)
    if c.shape[1] != x.shape[1]:
        raise ValueError(f"centres have {c.shape[1]} features, embedding {x.shape[1]}")
    drawn = rng.choice(n + len(c), min(reference, n + len(c)), replace=False)
    survey = np.concatenate([x[drawn[drawn < n]], c[drawn[drawn >= n] - n]])
    gamma = median_bandwidth(survey, rng=rng)
    sq = np.einsum("nd,nd->n", x, x)
    density = _kernel_sums(x, sq, survey, gamma) / len(survey)
    labelled = _kernel_sums(x, sq, c, gamma)
    chosen = np.zeros(n, dtype=bool)
    order = []
    for step in range(k):
        gap = density - labelled / (len(c) + step + 1)
        i = int(np.argmax(np.where(chosen, -np.inf, gap)))
        order.append(i)
        chosen[i] = True
        labelled += np.exp(-gamma * _sq_distances(x, sq, i))
    return np.array(order, dtype=np.int64)


def badge(
    probs: np.ndarray, embedding: np.ndarray, k: int, *, rng: np.random.Generator
) -> np.ndarray:
    """BADGE-like (Ash et al. 2020): k-means++ seeding on (mean_p - onehot(argmax)) ⊗ embedding,
    the last layer's gradient for the hallucinated label: large where uncertain, spread out."""
    p = _array("probs", probs, 3)
    e = _array("embedding", embedding, 2)
    if len(p) != len(e):
        raise ValueError(f"probs has {len(p)} galaxies, embedding {len(e)}")
    n = len(p)
    k = _check_k(k, n)
    g = p.mean(1)
    g[np.arange(n), g.argmax(1)] -= 1.0
    # never materialised: <g_i ⊗ e_i, g_j ⊗ e_j> = (g_i . g_j)(e_i . e_j)
    gg, ee = np.einsum("nc,nc->n", g, g), np.einsum("nd,nd->n", e, e)
    norm2 = gg * ee
    chosen = np.zeros(n, dtype=bool)
    nearest = np.full(n, np.inf)
    order = []
    for step in range(k):
        weight = np.where(chosen, 0.0, nearest)
        total = weight.sum()
        if step == 0:
            i = int(np.argmax(norm2))
        elif total > 0:
            i = int(rng.choice(n, p=weight / total))
        else:  # every remaining gradient coincides with a chosen one
            i = int(rng.choice(np.flatnonzero(~chosen)))
        order.append(i)
        chosen[i] = True
        d2 = norm2 + norm2[i] - 2.0 * (g @ g[i]) * (e @ e[i])
        np.minimum(nearest, np.maximum(d2, 0.0), out=nearest)
    return np.array(order, dtype=np.int64)


def random_scores(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """Uniform(0, 1) scores (N,): the random baseline, as a score a queue can sort by."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    return rng.random(int(n))


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
    return _gaussian_entropy(loc, scale)


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
        picks = _top_k(random_scores(len(eligible), rng=rng), take)
    elif strategy in _TOP_K:
        picks = _top_k(scores_for(strategy, **task, **targets), take)
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
