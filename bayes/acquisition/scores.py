"""Per-galaxy acquisition scores from posterior samples: entropy, BALD, margin, variation
ratios, EPIG, and their Gaussian-regression forms. (N,) float64, in nats where they are
information, higher means more worth labelling."""

from __future__ import annotations

import math

import numpy as np

from bayes.acquisition.arrays import BLOCK, TINY, as_array, entr, gaussian_pair

_MAX_RHO2 = 1.0 - np.finfo(np.float64).eps  # caps a noise-free regression EPIG at ~18 nats


def predictive_entropy(probs: np.ndarray) -> np.ndarray:
    """H[mean_t p_t] per galaxy: total predictive uncertainty (aleatoric + epistemic), nats."""
    return entr(as_array("probs", probs, 3).mean(1)).sum(-1)


def bald(probs: np.ndarray) -> np.ndarray:
    """BALD, I(y; w) = H[mean_t p_t] - mean_t H[p_t]: what a label would tell about the model."""
    p = as_array("probs", probs, 3)
    return np.maximum(entr(p.mean(1)).sum(-1) - entr(p).sum(-1).mean(1), 0.0)


def variation_ratios(probs: np.ndarray) -> np.ndarray:
    """1 - max_c mean_t p_t(c): probability that the predicted class is wrong."""
    return 1.0 - as_array("probs", probs, 3).mean(1).max(-1)


def margin(probs: np.ndarray) -> np.ndarray:
    """1 - (p_(1) - p_(2)) of the mean probabilities: near 1 when the top two classes tie."""
    mean = as_array("probs", probs, 3).mean(1)
    if mean.shape[-1] < 2:
        raise ValueError(f"margin needs at least 2 classes, probs has {mean.shape[-1]}")
    top = np.partition(mean, -2, axis=-1)[:, -2:]
    return 1.0 - (top[:, 1] - top[:, 0])


def predictive_std(draws: np.ndarray) -> np.ndarray:
    """Standard deviation of the (N, T) predictive draws: total regression uncertainty."""
    return as_array("draws", draws, 2).std(1)


def regression_information_gain(loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """BALD for a Gaussian regression, 0.5 log(total / aleatoric variance); the mixture over T
    is approximated by a Gaussian with total = var_t(loc) + mean_t(scale^2). Zero noise: huge."""
    mu, sigma = gaussian_pair("loc", loc, "scale", scale)
    aleatoric = np.maximum((sigma**2).mean(1), TINY)
    return 0.5 * (np.log(mu.var(1) + aleatoric) - np.log(aleatoric))


def gaussian_entropy(loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Differential entropy of the moment-matched Gaussian predictive (the regression "entropy")."""
    mu, sigma = gaussian_pair("loc", loc, "scale", scale)
    total = np.maximum(mu.var(1) + (sigma**2).mean(1), TINY)
    return 0.5 * np.log(2 * math.pi * math.e * total)


def epig(probs_pool: np.ndarray, probs_target: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """EPIG (Smith et al. 2023): mean over target inputs x* of I(y; y* | x, x*), where
    p(y, y*) = mean_t p_t(y) p_t(y*). Memory O(chunk * M * C^2) for M target inputs."""
    pool = as_array("probs_pool", probs_pool, 3)
    target = as_array("probs_target", probs_target, 3)
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
    h_pool = entr(pool.mean(1)).sum(-1)
    h_target = entr(target.mean(1)).sum(-1)
    out = np.empty(n)
    for start in range(0, n, chunk):
        block = pool[start : start + chunk]
        b = len(block)
        # joint[i, y, j, y*] = mean_t p_t(y | x_i) p_t(y* | x*_j); its marginals are the mean probs
        joint = (block.transpose(0, 2, 1).reshape(b * c, t) @ flat_target) / t
        h_joint = entr(joint.reshape(b, c, m, c)).sum((1, 3))
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
    mu_p, sigma_p = gaussian_pair("loc_pool", loc_pool, "scale_pool", scale_pool)
    mu_t, sigma_t = gaussian_pair("loc_target", loc_target, "scale_target", scale_target)
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
    rows = max(1, BLOCK // m)
    for start in range(0, len(mu_p), rows):
        stop = start + rows
        cov = d_pool[start:stop] @ d_target.T / t
        denom = var_pool[start:stop, None] * var_target[None, :]
        rho2 = np.divide(cov**2, denom, out=np.zeros_like(cov), where=denom > 0)
        out[start:stop] = (-0.5 * np.log1p(-np.minimum(rho2, _MAX_RHO2))).mean(1)
    return out


def random_scores(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """Uniform(0, 1) scores (N,): the random baseline, as a score a queue can sort by."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    return rng.random(int(n))
