"""Shared checks and small helpers of the acquisition functions (float64 numpy)."""

from __future__ import annotations

import numpy as np

TINY = np.finfo(np.float64).tiny
BLOCK = 1 << 21  # float64 elements in one temporary block of the joint computations (16 MiB)


def as_array(name: str, value: object, ndim: int) -> np.ndarray:
    """``value`` as a finite float64 array with ``ndim`` dimensions, else ValueError naming it."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def gaussian_pair(
    loc_name: str, loc: object, scale_name: str, scale: object
) -> tuple[np.ndarray, ...]:
    """Validated (N, T) Gaussian parameters of one set of galaxies."""
    mu, sigma = as_array(loc_name, loc, 2), as_array(scale_name, scale, 2)
    if mu.shape != sigma.shape:
        raise ValueError(f"{loc_name} {mu.shape} and {scale_name} {sigma.shape} differ in shape")
    return mu, sigma


def check_k(k: int, n: int) -> int:
    """``k`` as an int in 1..n, else ValueError."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in 1..{n}, got {k!r}")
    return int(k)


def entr(x: np.ndarray) -> np.ndarray:
    """Elementwise -x log x with 0 log 0 = 0 (x >= 0)."""
    return -x * np.log(np.maximum(x, TINY))


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first, ties broken by the lower index."""
    return np.argsort(-values, kind="stable")[:k].astype(np.int64)
