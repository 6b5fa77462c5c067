"""Each labelled galaxy's place in the order of acquisition and its draw ratio: its LURE weight."""

from __future__ import annotations

import numpy as np

from bayes.acquisition import lure_weights


class Draws:
    """Each labelled pool galaxy's place in the order of acquisition and its draw ratio
    (:attr:`app.services.loop.strategy.Batch.ratios`), for its LURE weight."""

    def __init__(self, pool: int) -> None:
        self.order = np.zeros(pool, np.int64)
        self.ratio = np.ones(pool)
        self.count = 0

    def add(self, picked: np.ndarray, ratios: np.ndarray, is_control: np.ndarray) -> None:
        """A batch in :class:`Batch` order (active picks, then the control, drawn first)."""
        drawn_first = np.concatenate([picked[is_control], picked[~is_control]])
        self.order[drawn_first] = self.count + 1 + np.arange(len(picked))
        self.ratio[picked] = ratios
        self.count += len(picked)

    def weights(self, labelled: np.ndarray) -> np.ndarray | None:
        """(M,) LURE weights of the ``labelled`` (pool mask) galaxies in pool order; None when
        every pick was uniform (all weights 1: the fit is the unweighted one, bit for bit)."""
        ratio = self.ratio[labelled]
        if np.isnan(ratio).any():
            raise ValueError("a deterministic pick has no draw probability to debias")
        if (ratio == 1).all():
            return None
        return lure_weights(self.order[labelled], ratio, len(self.order))
