"""Deterministic train / validation / test split by galaxy, stable as a survey grows.

A galaxy's split depends only on its survey source id and the seed (a SHA-256 hash mapped to
[0, 1)), so adding galaxies never moves an existing one to another split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

SPLITS = ("train", "validation", "test")
FRACTIONS = (0.7, 0.1, 0.2)


def unit_hash(source_id: str, seed: int) -> float:
    """A uniform number in [0, 1) from the first 8 bytes of sha256(f"{seed}:{source_id}")."""
    digest = hashlib.sha256(f"{seed}:{source_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(
    source_ids: Iterable[str], *, seed: int = 0, fractions: tuple[float, ...] = FRACTIONS
) -> np.ndarray:
    """(N,) array of "train" / "validation" / "test" for the given source ids."""
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"fractions must be three non-negative numbers summing to 1, got {fractions}"
        )
    u = np.array([unit_hash(str(s), seed) for s in source_ids])
    edges = np.cumsum(fractions)[:2]
    return np.array(SPLITS)[np.searchsorted(edges, u, side="right")]
