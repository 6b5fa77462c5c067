"""Greedy BatchBALD (Kirsch et al. 2019): a batch whose joint information about the weights
is largest, so that its galaxies do not repeat one another."""

from __future__ import annotations

import numpy as np

from bayes.acquisition.arrays import BLOCK, as_array, check_k, entr


def joint_entropy(
    configs: np.ndarray, flat: np.ndarray, c: int, log_scale: np.ndarray | None = None
) -> np.ndarray:
    """H[y_batch, y_x] for every candidate x; configs (T, S) holds P(configuration | w_t).

    Exact (log_scale None): S = every configuration of the batch. Sampled: S configurations
    drawn from the batch's joint, column s scaled by exp(-log_scale[s]) so that it has mean 1.
    """
    t, s = configs.shape
    n = flat.shape[1] // c
    out = np.empty(n)
    step = max(1, BLOCK // (s * c))
    for a in range(0, n, step):
        b = min(n, a + step)
        joint = (configs.T @ flat[:, a * c : b * c]) / t  # (S, candidates * C)
        terms = entr(joint)
        if log_scale is not None:  # -p/p(s) log p summed over y_x, averaged over samples
            terms -= joint * log_scale[:, None]
        h = terms.reshape(s, b - a, c).sum((0, 2))
        out[a:b] = h if log_scale is None else h / s
    return out


def extend_samples(
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
    p = as_array("probs", probs, 3)
    n, t, c = p.shape
    k = check_k(k, n)
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    flat = p.transpose(1, 0, 2).reshape(t, n * c)
    conditional = entr(p).sum(-1).mean(1)  # E_w H[y_x | w]; the batch's own sum is constant
    exact: np.ndarray | None = np.ones((t, 1))
    owner = rng.integers(t, size=num_samples)  # posterior sample behind each sampled configuration
    sampled, log_scale = np.ones((t, num_samples)), np.zeros(num_samples)
    free = np.ones(n, dtype=bool)
    order = []
    for _ in range(k):
        if exact is not None:
            joint = joint_entropy(exact, flat, c)
        else:
            joint = joint_entropy(sampled, flat, c, log_scale)
        i = int(np.argmax(np.where(free, joint - conditional, -np.inf)))
        order.append(i)
        free[i] = False
        sampled, log_scale = extend_samples(sampled, log_scale, p[i], owner, rng)
        if exact is not None and exact.shape[1] * c <= num_samples:
            exact = (exact[:, :, None] * p[i][:, None, :]).reshape(t, -1)
        else:
            exact = None
    return np.array(order, dtype=np.int64)
