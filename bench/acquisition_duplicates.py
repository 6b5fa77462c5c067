"""Near-duplicates among k picks: top-k BALD against the batch-aware strategies.

A synthetic pool of clusters of near-duplicates (default 50 clusters x 20 noisy copies, in both
the embedding and the posterior samples), with the high-uncertainty points concentrated in a few
"hot" clusters. For each strategy and seed: the number of distinct clusters among the k picks and
the number of near-duplicate pairs (two picks from one cluster). Prints a markdown table of the
median (min-max) over seeds, and the time of one BatchBALD batch (k=10, N=2000, T=32, C=4).
``tests/bayes/test_acquisition.py`` asserts on the same pool.

    .venv/bin/python bench/acquisition_duplicates.py --k 20 --seeds 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bayes import acquisition

STRATEGIES = (
    "bald",
    "power_bald",
    "batch_bald",
    "kcenter",
    "badge",
    "epig",
    "power_epig",
    "random",
)
LABELS = {"bald": "top-k BALD", "epig": "top-k EPIG"}


def cluster_pool(
    rng: np.random.Generator,
    *,
    clusters: int = 50,
    copies: int = 20,
    hot: int = 5,
    samples: int = 32,
    classes: int = 4,
    dim: int = 16,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probs (N, T, C), embedding (N, D), cluster (N,)) with N = clusters * copies.

    Each cluster has its own T posterior logit samples; its copies add small noise to those and
    to the cluster's embedding centre. The first ``hot`` clusters' samples disagree strongly
    (high BALD); the others disagree weakly.
    """
    spread = rng.uniform(0.1, 1.0, clusters)
    spread[:hot] = 3.0
    logits = rng.normal(size=(clusters, 1, classes)) + spread[:, None, None] * rng.normal(
        size=(clusters, samples, classes)
    )
    cluster = np.repeat(np.arange(clusters), copies)
    noisy = logits[cluster] + 0.1 * rng.normal(size=(len(cluster), samples, classes))
    probs = np.exp(noisy - noisy.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    embedding = 3.0 * rng.normal(size=(clusters, dim))[cluster]
    embedding += 0.05 * rng.normal(size=embedding.shape)
    return probs, embedding, cluster


def duplicates(picks: np.ndarray, cluster: np.ndarray) -> tuple[int, int]:
    """(distinct clusters, near-duplicate pairs = pairs of picks sharing a cluster)."""
    counts = np.bincount(cluster[picks])
    return int((counts > 0).sum()), int((counts * (counts - 1) // 2).sum())


def run(strategy: str, k: int, seed: int) -> tuple[int, int]:
    """Distinct clusters and near-duplicate pairs among ``strategy``'s k picks on seed's pool."""
    rng = np.random.default_rng(seed)
    probs, embedding, cluster = cluster_pool(rng)
    target = probs[rng.choice(len(probs), 200, replace=False)]  # a sample of the target inputs
    picks = acquisition.select(
        strategy, k, rng=rng, probs=probs, embedding=embedding, probs_target=target
    )
    return duplicates(picks, cluster)


def summary(values: list[int]) -> str:
    """'median (min–max)'."""
    return f"{statistics.median(values):g} ({min(values)}–{max(values)})"


def batch_information(probs: np.ndarray, picks: np.ndarray) -> list[float]:
    """Exact I(y_1..y_j; w) of the first j picks, j = 1..len(picks) (all C^j configurations)."""
    t = probs.shape[1]
    configs, conditional, out = np.ones((t, 1)), 0.0, []
    for i in picks:
        configs = (configs[:, :, None] * probs[i][:, None, :]).reshape(t, -1)
        joint = configs.mean(0)
        conditional += float(-(probs[i] * np.log(probs[i])).sum(-1).mean())
        out.append(float(-(joint * np.log(joint)).sum()) - conditional)
    return out


def time_batch_bald(repeats: int = 3) -> float:
    """Median seconds of one BatchBALD batch, k=10 on N=2000, T=32, C=4 (Dirichlet(0.5) probs)."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(4, 0.5), size=(2000, 32))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        acquisition.batch_bald(probs, 10, rng=rng)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(f"| strategy (k={args.k}) | distinct clusters | near-duplicate pairs |")
    print("|---|---|---|")
    for strategy in STRATEGIES:
        results = [run(strategy, args.k, seed) for seed in range(args.seeds)]
        distinct, pairs = zip(*results, strict=True)
        name = LABELS.get(strategy, strategy)
        print(f"| {name} | {summary(list(distinct))} | {summary(list(pairs))} |")
    rng = np.random.default_rng(0)
    probs, _, cluster = cluster_pool(rng)
    picks = acquisition.select("batch_bald", 8, probs=probs, rng=rng)
    mi = ", ".join(f"{v:.2f}" for v in batch_information(probs, picks))
    print(f"\nseed 0, batch_bald's first 8 picks: clusters {cluster[picks].tolist()}")
    print(f"I(batch; w) after each pick: {mi} nats (at most log T = {np.log(probs.shape[1]):.2f})")
    print(f"batch_bald k=10, N=2000, T=32, C=4: {time_batch_bald():.2f} s (median of 3)")


if __name__ == "__main__":
    main()
