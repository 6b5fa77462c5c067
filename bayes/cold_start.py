"""Cold start: the first labels chosen from a representation, before any model can score.

With no labels there is no posterior to be uncertain with, and random selection is the usual
start. A representation of every galaxy (a pretrained encoder's latents, or catalogue colours)
allows better: TypiClust (Hacohen, Dekel & Weinshall 2022, "Active learning on a budget")
picks, from each of the most populous regions not yet labelled, its most typical galaxy, so a
small budget covers where galaxies are instead of where chance puts it.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.neighbors import NearestNeighbors

# Above this many galaxies k-means runs on mini-batches (memory and time stay bounded).
FULL_KMEANS_LIMIT = 50_000
# The paper's neighbourhood for typicality and its smallest cluster worth a label.
NEIGHBOURS = 20
MIN_CLUSTER = 5


def typicality(x: np.ndarray, *, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """(N,) inverse mean distance of each row to its ``neighbours`` nearest others: high where
    the galaxies are dense. A single row is typical by definition (inf)."""
    n = len(x)
    if n < 2:
        return np.full(n, np.inf)
    k = min(neighbours, n - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return 1.0 / np.maximum(dist[:, 1:].mean(1), 1e-12)


def typiclust(
    embedding: np.ndarray,
    k: int,
    *,
    labelled: np.ndarray | None = None,
    rng: np.random.Generator,
) -> np.ndarray:
    """k row indices of ``embedding`` (N, D) by TypiClust: cluster the rows into
    (labelled + k) groups by k-means, then k times take the group with the fewest labels
    (the largest among ties; groups under 5 galaxies last) and its most typical unlabelled
    galaxy (:func:`typicality` within the group).

    labelled: (N,) bool, galaxies already labelled (they count in their groups, never picked).
    Time O(N D (labelled + k)) for k-means plus the neighbours of the k groups picked.
    """
    x = np.asarray(embedding, np.float64)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise ValueError(f"embedding must be a finite (N, D) array, got shape {x.shape}")
    n = len(x)
    have = np.zeros(n, bool) if labelled is None else np.asarray(labelled, bool)
    if have.shape != (n,):
        raise ValueError(f"labelled has shape {have.shape}, the embedding {n} rows")
    free = int((~have).sum())
    if not 1 <= k <= free:
        raise ValueError(f"k must be within 1..{free} (the unlabelled galaxies), got {k}")
    groups = min(int(have.sum()) + k, n)
    seed = int(rng.integers(2**31 - 1))
    kmeans = (
        KMeans(groups, n_init=1, random_state=seed)
        if n <= FULL_KMEANS_LIMIT
        else MiniBatchKMeans(groups, n_init=3, random_state=seed, batch_size=4096)
    )
    group = kmeans.fit_predict(x)
    size = np.bincount(group, minlength=groups)
    labels = np.bincount(group[have], minlength=groups)
    free_in = np.bincount(group[~have], minlength=groups)
    picked = np.zeros(n, bool)
    out = []
    for _ in range(k):
        # fewest labels first, then big groups before small, then the largest
        order = np.lexsort((-size, size < MIN_CLUSTER, labels))
        g = next(int(g) for g in order if free_in[g] > 0)
        members = np.flatnonzero((group == g) & ~have & ~picked)
        inside = np.flatnonzero(group == g)
        typical = typicality(x[inside])
        pos = np.searchsorted(inside, members)
        i = int(members[np.argmax(typical[pos])])
        out.append(i)
        picked[i] = True
        labels[g] += 1
        free_in[g] -= 1
    return np.array(out, dtype=np.int64)
