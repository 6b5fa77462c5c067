"""Batches chosen for diversity in an embedding: k-center greedy, LCMD (Holzmüller et al. 2023),
kernel herding and BADGE (Ash et al. 2020)."""

from __future__ import annotations

import numpy as np

from bayes.acquisition.arrays import BLOCK, as_array, check_k


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
    x = as_array("embedding", embedding, 2)
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
    k = check_k(k, n - int(chosen.sum()))
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
    rows = max(1, BLOCK // max(1, len(centres)))
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
    x = as_array("embedding", embedding, 2)
    n = len(x)
    k = check_k(k, n)
    sq = np.einsum("nd,nd->n", x, x)
    if centres is not None and len(np.asarray(centres)):
        c = as_array("centres", centres, 2)
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
    rows = max(1, BLOCK // len(y))
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
    x = as_array("embedding", embedding, 2)
    n = len(x)
    k = check_k(k, n)
    c = np.zeros((0, x.shape[1])) if centres is None else as_array("centres", centres, 2)
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
    p = as_array("probs", probs, 3)
    e = as_array("embedding", embedding, 2)
    if len(p) != len(e):
        raise ValueError(f"probs has {len(p)} galaxies, embedding {len(e)}")
    n = len(p)
    k = check_k(k, n)
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
