"""BALD rank agreement between short and long posterior runs (shared by the bench scripts)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import spearmanr

from bayes.predict import Posterior, classification_uncertainty


def bald_agreement(
    predict: Callable[[int, int], Posterior], *, task: str, samples: int, reference: int, seeds: int
) -> tuple[list[float], np.ndarray]:
    """Spearman of BALD from ``samples`` draws (seeds 1..seeds) with ``reference`` draws (seed 0).

    predict(samples, seed) -> Posterior of a fixed set of galaxies. Returns (rho per seed,
    reference BALD per galaxy).
    """
    ref = classification_uncertainty(predict(reference, 0).probs[task])["epistemic"]
    out = []
    for seed in range(1, seeds + 1):
        bald = classification_uncertainty(predict(samples, seed).probs[task])["epistemic"]
        out.append(float(spearmanr(bald, ref).statistic))
    return out, ref
