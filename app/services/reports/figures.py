"""The uncertainty report's figures as matplotlib (Agg) PNGs, by title: the downloadable HTML
inlines them, and the reports page shows those it does not draw interactively
(``app.services.reports.charts``)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

from app.services.data.class_names import display_names
from app.services.reports.calibration_plots import (
    coverage_figure,
    pit_figure,
    reliability_figure,
)
from app.services.reports.uncertainty import ReportData


def _png(fig: plt.Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out.getvalue()


def figures(data: ReportData) -> dict[str, bytes]:
    """The report's figures as PNG bytes, by title (those the data allows)."""
    out: dict[str, bytes] = {}
    if len(data.probs):
        rel = data.reliability
        title = f"{data.classification_task}: ECE {rel.ece:.3f}"
        fig = reliability_figure(rel.accuracy, rel.count, title=title)
        out["Reliability diagram"] = _png(fig)
        cm = data.confusion
        fig, ax = plt.subplots(figsize=(5.2, 4.4))
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center",
                    color="white" if v > cm.max() / 2 else "black", fontsize=8)  # fmt: skip
        names = display_names(data.classes)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set(xlabel="predicted", ylabel="true", title=f"{data.classification_task} confusion")
        out["Confusion matrix"] = _png(fig)
    if data.regressions:
        pits = {r.task: {"validation": r.pit} for r in data.regressions}
        out["PIT histogram"] = _png(pit_figure(pits))
        out["Coverage at every nominal level"] = _png(coverage_figure(pits))
    if data.points:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
        # by version, oldest first: two versions on the same labels are two points, not a
        # vertical line; each tick says how many labels that version learnt from
        order = np.arange(1, len(data.points) + 1)
        ticks = [f"{p.name}\n{p.n_labels or 0} labels" for p in data.points]
        acc = [np.nan if p.accuracy is None else p.accuracy for p in data.points]
        left.plot(order, acc, "o-", label="validation accuracy")
        ctrl = [(k, p.control_accuracy) for k, p in zip(order, data.points, strict=True)
                if p.n_control]  # fmt: skip
        if ctrl:
            left.plot(*zip(*ctrl, strict=True), "s", color="#e45756",
                      label="on random-control labels (prequential)")  # fmt: skip
        left.set(ylabel="accuracy", title="classification")
        left.legend(fontsize=8)
        nmad = [np.nan if p.sigma_nmad is None else p.sigma_nmad for p in data.points]
        right.plot(order, nmad, "o-", color="#f58518")
        right.set(ylabel="σ_NMAD", title="redshift")
        for ax in (left, right):
            ax.set_xticks(order, ticks, fontsize=8)
            ax.set_xlim(0.5, len(order) + 0.5)
        fig.suptitle("Learning curves across model versions (validation split)")
        out["Learning curves"] = _png(fig)
    if len(data.embedding):
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.4))
        points = left.scatter(*data.embedding.T, c=data.embedding_bald, s=6, cmap="viridis")
        fig.colorbar(points, ax=left, label="BALD (nats)")
        left.set(title="t-SNE of posterior embeddings: BALD", xticks=[], yticks=[])
        for k, name in enumerate(display_names(data.classes)):
            rows = data.embedding_class == k
            right.scatter(*data.embedding[rows].T, s=6, label=name)
        right.set(title="predicted class", xticks=[], yticks=[])
        if data.classes:
            right.legend(fontsize=7, markerscale=2)
        out["Embedding map"] = _png(fig)
    return out
