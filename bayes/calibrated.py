"""A model version, as bayes sees it: a fitted model and its recalibration behind one ``predict``
that returns the recalibrated posterior, saved and loaded together (safetensors + JSON)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np

from bayes import checkpoint
from bayes.calibration import Calibration
from bayes.config import ModelConfig
from bayes.data import GalaxyArrays
from bayes.latents import Latents
from bayes.model import GalaxyModel
from bayes.predict import Posterior, predict_latents

CALIBRATION_KEY = "calibration"  # where the recalibration lies in the checkpoint's metadata


@runtime_checkable
class Predictive(Protocol):
    """What the Bayesian model and the baselines (MC dropout, deep ensemble) share: fit on
    labelled arrays, posterior samples for any arrays, saved and loaded without pickle."""

    config: ModelConfig

    def fit(self, arrays: GalaxyArrays, targets: Mapping[str, np.ndarray]) -> Self: ...

    def predict(
        self, arrays: GalaxyArrays | Iterable[GalaxyArrays], *, batch_size: int, seed: int
    ) -> Posterior: ...

    def save(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None) -> Path: ...

    @classmethod
    def load(cls, path: str | Path) -> Self: ...


@dataclass(frozen=True)
class CalibratedModel:
    """A fitted :class:`GalaxyModel` (``base``) and the recalibration fitted on held-out labels."""

    base: GalaxyModel
    calibration: Calibration

    @property
    def config(self) -> ModelConfig:
        """The fitted model's configuration (tasks, modalities, sizes)."""
        return self.base.config

    def predict(
        self,
        arrays: GalaxyArrays | Iterable[GalaxyArrays],
        *,
        samples: int = 32,
        batch_size: int = 1024,
        seed: int = 0,
    ) -> Posterior:
        """The recalibrated posterior predictive of ``arrays`` (:func:`bayes.predict.predict`)."""
        raw = self.base.predict(arrays, samples=samples, batch_size=batch_size, seed=seed)
        return self.calibration.apply(raw, self.config.tasks)

    def predict_latents(
        self, latents: Iterable[Latents], *, samples: int = 32, seed: int = 0
    ) -> Posterior:
        """The recalibrated posterior from the trunk's latents: the heads alone."""
        raw = predict_latents(self.base, latents, samples=samples, seed=seed)
        return self.calibration.apply(raw, self.config.tasks)

    def save(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the model and its recalibration to directory ``path`` (returned)."""
        extra = {**(metadata or {}), CALIBRATION_KEY: self.calibration.to_dict()}
        return checkpoint.save(self.base, path, metadata=extra)

    @classmethod
    def load(cls, path: str | Path) -> CalibratedModel:
        """The model and recalibration that :meth:`save` wrote to ``path``."""
        meta = checkpoint.read_metadata(path)
        if CALIBRATION_KEY not in meta:
            raise ValueError(f"{path}: no recalibration in the checkpoint's metadata")
        return cls(checkpoint.load(path), Calibration.from_dict(meta[CALIBRATION_KEY]))
