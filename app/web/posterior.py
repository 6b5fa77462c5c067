"""One galaxy's posterior under a model version, summarised for the label page.

Class probabilities come as (T, C): T posterior samples of the C class probabilities (the
(N, T, C) convention of ``bayes.predict`` for N = 1). The page shows each class's mean and
the spread of its samples (16th to 84th percentile), so a confident-looking mean with wide
bars reads as the epistemic uncertainty it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.services.data.arrays import SurveyRefs
from app.services.models.training import predict_rows
from bayes.calibrated import CalibratedModel
from storage.arrays import ArrayStore

REDSHIFT_TASK = "redshift"
SAMPLES = 32


@dataclass(frozen=True)
class GalaxyPosterior:
    """What a model version says about one galaxy: class probability samples per
    classification task, {task: (T, C)}, and its posterior-mean redshift and spread (standard
    deviation of the draws) if it predicts one."""

    probs: dict[str, np.ndarray]
    redshift: float | None
    redshift_std: float | None = None


@dataclass(frozen=True)
class ClassSummary:
    """Per class: mean probability and its 16th and 84th percentiles over the T samples, (C,)."""

    classes: tuple[str, ...]
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def top(self) -> int:
        """Index of the class with the highest mean probability."""
        return int(np.argmax(self.mean))


def galaxy_posterior(
    model: CalibratedModel,
    store: ArrayStore,
    refs: SurveyRefs,
    position: int,
    *,
    samples: int = SAMPLES,
) -> GalaxyPosterior:
    """The recalibrated posterior of the galaxy at ``position`` in ``refs``: one forward pass
    of the trunk for this galaxy alone."""
    posterior = predict_rows(
        model, store, refs, np.array([position]), samples=samples, batch_size=1
    )
    draws = posterior.draws.get(REDSHIFT_TASK)
    return GalaxyPosterior(
        probs={task: p[0] for task, p in posterior.probs.items()},
        redshift=float(draws[0].mean()) if draws is not None else None,
        redshift_std=float(draws[0].std()) if draws is not None else None,
    )


def summarize(probs: np.ndarray, classes: Sequence[str]) -> ClassSummary:
    """(T, C) probability samples -> mean and 16–84% range of each class, (C,) each."""
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"probs must be (T, {len(classes)}), got {probs.shape}")
    low, high = np.percentile(probs, [16, 84], axis=0)
    return ClassSummary(tuple(classes), probs.mean(0), low, high)


def posterior_spec(summary: ClassSummary) -> dict[str, Any]:
    """A Vega-Lite spec: a bar per class at its mean probability, with a 16–84% whisker."""
    columns = (summary.classes, summary.mean, summary.low, summary.high)
    values = [
        {"class": c, "mean": float(m), "p16": float(lo), "p84": float(hi)}
        for c, m, lo, hi in zip(*columns, strict=True)
    ]
    y = {"field": "class", "type": "nominal", "sort": list(summary.classes), "title": None}
    x = {"type": "quantitative", "scale": {"domain": [0, 1]}}
    bars = {
        "mark": {"type": "bar", "color": "#4c78a8", "opacity": 0.85},
        "encoding": {
            "x": {**x, "field": "mean", "title": "probability"},
            "y": y,
            "tooltip": [{"field": k, "format": ".2f"} for k in ("mean", "p16", "p84")],
        },
    }
    whiskers = {
        "mark": {"type": "rule", "color": "#222", "strokeWidth": 2},
        "encoding": {"x": {**x, "field": "p16"}, "x2": {"field": "p84"}, "y": y},
    }
    return {
        "data": {"values": values},
        "layer": [bars, whiskers],
        "height": 30 * len(summary.classes) + 20,
    }
