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


def binomial_interval(k: np.ndarray, n: np.ndarray, *, z: float = 1.0) -> tuple[np.ndarray, ...]:
    """Wilson score interval of k successes in n trials at ``z`` sigma (68% by default): (low,
    high), NaN where n = 0. Unlike k/n +- sqrt(p(1-p)/n) it stays inside [0, 1] and is not
    zero-width at k = 0 or k = n, which small bins of a reliability diagram hit often."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return np.where(n > 0, centre - half, np.nan), np.where(n > 0, centre + half, np.nan)


def reliability_figure(
    accuracy: np.ndarray, count: np.ndarray, *, title: str, fontsize: int = 10
) -> Figure:
    """Accuracy per equal-width confidence bin as bars, with the bin's galaxy count above it and
    its 68% binomial (Wilson) interval as an error bar, and the diagonal of calibration."""
    bins = len(count)
    edges = np.linspace(0, 1, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.bar(edges[:-1], np.nan_to_num(accuracy), width=np.diff(edges), align="edge",
           color="#4c78a8", edgecolor="white", label="accuracy (bar), 68% interval")  # fmt: skip
    low, high = binomial_interval(np.nan_to_num(accuracy) * count, count)
    filled = count > 0
    mid = np.nan_to_num(accuracy)[filled]
    ax.errorbar(centres[filled], mid, yerr=[mid - low[filled], high[filled] - mid], fmt="none",
                ecolor="#222", capsize=2, lw=1)  # fmt: skip
    for x, n in zip(centres[filled], count[filled], strict=True):
        ax.text(x, 1.01, str(int(n)), ha="center", va="bottom", fontsize=fontsize - 2)
    ax.plot([0, 1], [0, 1], "--", color="#888", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("confidence (top-class probability)", fontsize=fontsize)
    ax.set_ylabel("accuracy", fontsize=fontsize)
    ax.set_title(f"{title} (galaxies per bin above the bars)", fontsize=fontsize)
    ax.tick_params(labelsize=fontsize - 1)
    # below the axes: at the top it hid the counts of the low-confidence bins
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=fontsize - 2)
    return fig
