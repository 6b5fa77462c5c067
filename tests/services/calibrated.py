"""Synthetic posteriors whose truths are drawn from their own predictive mixtures (calibrated
by construction), for tests of calibration metrics and reports."""

from __future__ import annotations

import numpy as np

from bayes.config import TaskConfig
from bayes.predict import Posterior

MORPHOLOGY = TaskConfig("morphology", "categorical", classes=("a", "b", "c"))
REDSHIFT = TaskConfig("redshift", "gaussian", transform="log1p")
SFR = TaskConfig("sfr", "gaussian")
TASKS = (MORPHOLOGY, REDSHIFT, SFR)


def calibrated(
    n: int, *, t: int = 8, spread: float = 1.0, seed: int = 0
) -> tuple[Posterior, dict[str, np.ndarray]]:
    """A posterior of n galaxies and T samples for ``TASKS`` and truths drawn from it.

    spread: the posterior's widths are multiplied by it after the truths are drawn (1: truths
    follow the predictive; < 1: over-confident; > 1: under-confident).
    """
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(3), (n, t))  # (n, T, C)
    classes = np.array([rng.choice(3, p=p) for p in probs.mean(1)])
    loc, scale, draws, truths = {}, {}, {}, {"morphology": classes}
    for task, centre, width in ((REDSHIFT, 0.3, 0.04), (SFR, 0.5, 0.3)):
        mu = rng.normal(centre, 5 * width, (n, 1)) + rng.normal(0, width, (n, t))  # (n, T)
        sigma = rng.uniform(0.5 * width, 1.5 * width, (n, t))
        pick = rng.integers(0, t, n)
        u = rng.normal(mu[np.arange(n), pick], sigma[np.arange(n), pick])
        m = mu.mean(1, keepdims=True)
        mu, sigma = m + spread * (mu - m), spread * sigma
        inverse = np.expm1 if task.transform == "log1p" else (lambda x: x)
        truths[task.name] = inverse(u)
        loc[task.name], scale[task.name] = mu, sigma
        draws[task.name] = inverse(mu + sigma * rng.standard_normal((n, t)))
    posterior = Posterior({"morphology": probs}, draws, loc, scale, np.zeros((n, 2)))
    return posterior, truths
