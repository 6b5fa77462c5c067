"""PIT histograms and coverage-vs-nominal curves of regression posteriors (matplotlib, Agg).

Shared by the evaluation report (a line per model variant) and the uncertainty report (a
panel per task). Inputs are exact PITs of the predictive mixture, {task: {label: (n,)}}, as
``app.services.models.metrics.predictive_pit`` gives them.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from app.services.models.metrics import PIT_BINS
from bayes.checks import metrics as bm

Pits = Mapping[str, Mapping[str, np.ndarray]]  # {task: {label: (n,) PIT values}}


def draw_pit(ax: Axes, pits: Mapping[str, np.ndarray], *, title: str) -> None:
    """One PIT density histogram (``PIT_BINS`` bins) per label, and the flat line of calibration."""
    for label, values in pits.items():
        density, edges = bm.pit_histogram(values, bins=PIT_BINS)
        ax.stairs(density, edges, label=f"{label} (n {len(values)})")
    ax.axhline(1.0, color="k", ls=":", lw=1, label="calibrated")
    ax.set(xlabel="PIT", ylabel="density", xlim=(0, 1), title=title)
    ax.legend(fontsize=7)


def draw_coverage(ax: Axes, pits: Mapping[str, np.ndarray], *, title: str) -> None:
    """Observed coverage at every nominal central-interval level per label, and the diagonal."""
    levels = np.array(bm.NOMINAL_LEVELS)
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="nominal")
    for label, values in pits.items():
        ax.plot(levels, bm.coverage_curve(values, levels), "o-", ms=3, label=label)
    ax.set(xlabel="nominal level of the central interval", ylabel="observed coverage")
    ax.set(xlim=(0, 1), ylim=(0, 1), title=title, aspect="equal")
    ax.legend(fontsize=7)


def pit_figure(pits: Pits) -> Figure:
    """A panel per task of PIT histograms (flat = calibrated, U = over-confident)."""
    fig, axes = _panels(len(pits), height=3.6)
    for ax, (task, by_label) in zip(axes, pits.items(), strict=True):
        draw_pit(ax, by_label, title=f"{task}: PIT (flat = calibrated)")
    fig.tight_layout()
    return fig


def coverage_figure(pits: Pits) -> Figure:
    """A panel per task of coverage against nominal level (on the diagonal = calibrated)."""
    fig, axes = _panels(len(pits), height=4.4)
    for ax, (task, by_label) in zip(axes, pits.items(), strict=True):
        draw_coverage(ax, by_label, title=f"{task}: coverage (diagonal = calibrated)")
    fig.tight_layout()
    return fig


def _panels(n: int, *, height: float) -> tuple[Figure, list[Axes]]:
    fig, axes = plt.subplots(1, max(n, 1), figsize=(4.6 * max(n, 1), height), squeeze=False)
    return fig, list(axes[0][:n])
