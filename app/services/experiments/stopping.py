"""Stopping guidance: the round after which more labels buy little.

Two signals must both flatten: the held-out metric's gain per label (small next to the best
gain per label seen so far) and the mean acquisition value of the chosen batches (it stops
falling: the model no longer finds galaxies it expects to learn much from).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def gains_per_label(
    n_labels: Sequence[float], metric: Sequence[float], *, higher_is_better: bool = True
) -> np.ndarray:
    """(R - 1,) metric change per added label between consecutive rounds, positive = better."""
    n, m = np.asarray(n_labels, float), np.asarray(metric, float)
    sign = 1.0 if higher_is_better else -1.0
    return sign * np.diff(m) / np.maximum(np.diff(n), 1e-12)


def plateau_round(
    n_labels: Sequence[float],
    metric: Sequence[float],
    acquisition: Sequence[float] | None = None,
    *,
    higher_is_better: bool = True,
    gain_fraction: float = 0.2,
    acquisition_change: float = 0.1,
    patience: int = 2,
) -> int | None:
    """The first round r after which, for ``patience`` rounds in a row, the gain per label was
    below ``gain_fraction`` of the best gain per label up to then and the mean acquisition value
    changed by less than ``acquisition_change`` (relative) from the round before; None if never.

    acquisition[i]: mean value of the batch chosen after round i (NaN or missing: not judged,
    so only the metric decides there).
    """
    if patience < 1:
        raise ValueError(f"patience must be >= 1, got {patience}")
    gains = gains_per_label(n_labels, metric, higher_is_better=higher_is_better)
    acq = np.full(len(gains) + 1, np.nan)
    if acquisition is not None:
        given = np.asarray(acquisition, float)[: len(acq)]
        acq[: len(given)] = given
    flat = np.zeros(len(gains), bool)  # flat[i]: the step from round i to round i + 1
    for i, g in enumerate(gains):
        best = np.max(gains[: i + 1])
        small_gain = best <= 0 or g < gain_fraction * best
        before, now = acq[i], acq[i + 1]
        steady = not (np.isfinite(before) and np.isfinite(now)) or abs(now - before) <= (
            acquisition_change * abs(before)
        )
        flat[i] = small_gain and steady
    for r in range(len(flat) - patience + 1):
        if flat[r : r + patience].all():
            return r
    return None
