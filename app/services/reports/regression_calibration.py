"""A regression task's calibration where truths are known: exact PIT, coverage at every nominal
level and the CDE loss (the uncertainty report's regression section).

Pure functions of a posterior and (N,) targets; the figures come from
``app.services.reports.calibration_plots``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.services.models.metrics import PIT_BINS, is_redshift, predictive_cde_loss, predictive_pit
from bayes.checks import metrics as bm
from bayes.config import TaskConfig
from bayes.predict import Posterior
from bayes.targets import known


@dataclass(frozen=True)
class RegressionCalibration:
    """One regression task on the galaxies whose target is known.

    pit: (n,) exact PIT of each truth under its predictive mixture; cde_loss: the CDE loss
    (LSST DESC / RAIL) in the task's natural units (z for redshift), lower is better;
    redshift: whether the task is fitted in log(1 + z).
    """

    task: str
    pit: np.ndarray
    cde_loss: float
    redshift: bool = False

    @property
    def n(self) -> int:
        return len(self.pit)

    @property
    def levels(self) -> tuple[float, ...]:
        return bm.NOMINAL_LEVELS

    @property
    def coverage(self) -> np.ndarray:
        """(L,) observed coverage of the central interval at each of :attr:`levels`."""
        return bm.coverage_curve(self.pit, self.levels)

    @property
    def histogram(self) -> np.ndarray:
        """(PIT_BINS,) PIT density on [0, 1] (flat at 1 when calibrated)."""
        return bm.pit_histogram(self.pit, bins=PIT_BINS)[0]

    def coverage_at(self, level: float) -> float:
        """Observed coverage of the central ``level`` interval."""
        return float(bm.coverage_curve(self.pit, (level,))[0])


def regression_calibration(
    task: TaskConfig, posterior: Posterior, y: np.ndarray
) -> RegressionCalibration | None:
    """Calibration of ``task`` on the galaxies of ``posterior`` whose target y (N,) is known;
    None for a classification or when no target is known."""
    if task.is_classification or task.name not in posterior.loc:
        return None
    ok = known(task, y)
    if not ok.any():
        return None
    pit = predictive_pit(task, posterior, y, ok)
    cde = predictive_cde_loss(task, posterior, y, ok)
    return RegressionCalibration(task.name, pit, cde, redshift=is_redshift(task))


def headline(items: Sequence[RegressionCalibration]) -> RegressionCalibration | None:
    """The redshift's calibration if there is one, else the first regression's (or None)."""
    return next((r for r in items if r.redshift), next(iter(items), None))


def summary_rows(items: Sequence[RegressionCalibration]) -> list[tuple[str, object]]:
    """(label, value) rows for a summary table: n, 68% / 95% coverage and the CDE loss."""
    rows: list[tuple[str, object]] = []
    for r in items:
        rows += [
            (f"{r.task} validation galaxies with a known target", r.n),
            (f"{r.task} 68% interval coverage", r.coverage_at(0.68)),
            (f"{r.task} 95% interval coverage", r.coverage_at(0.95)),
            (f"{r.task} CDE loss (natural units, lower is better)", r.cde_loss),
        ]
    return rows


def coverage_rows(items: Sequence[RegressionCalibration]) -> list[list[object]]:
    """One row per nominal level: the level in percent, then each task's observed coverage."""
    if not items:
        return []
    curves = [r.coverage for r in items]
    return [
        [f"{100 * level:.0f}%", *(float(c[i]) for c in curves)]
        for i, level in enumerate(items[0].levels)
    ]
