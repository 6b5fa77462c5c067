"""Learning-curve figure of an experiment: mean per strategy with a ±1 std band over seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

LABELS = {
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "ece": "ECE",
    "sigma_nmad": "σ_NMAD",
    "outlier_fraction": "outlier fraction",
    "coverage_68": "68% coverage",
    "rmse": "RMSE",
    "r2": "R²",
}


def plot_experiment(result: dict[str, Any], path: Path, *, title: str = "") -> Path:
    """One panel per reported metric, one for the rarest class's recall where the records hold
    it, and one for the acquisition value, against labels."""
    metrics = list(result["setup"]["metrics"])
    rare = result["setup"].get("rare_class")
    first = next(iter(result["strategies"].values()))["aggregate"][0]["metrics"]
    if rare and f"recall_{rare}" in first:
        metrics.append(f"recall_{rare}")
    fig, axes = plt.subplots(1, len(metrics) + 1, figsize=(4.2 * (len(metrics) + 1), 3.6))
    for colour, (name, s) in enumerate(result["strategies"].items()):
        rows = s["aggregate"]
        n = [r["n_labels"] for r in rows]
        series = [[r["metrics"][m] for r in rows] for m in metrics]
        series.append([r["acquisition_mean"] for r in rows])
        for ax, points in zip(axes, series, strict=True):
            keep = [(x, p) for x, p in zip(n, points, strict=True) if p["mean"] is not None]
            if not keep:
                continue
            x = [k[0] for k in keep]
            mean = [k[1]["mean"] for k in keep]
            std = [k[1]["std"] for k in keep]
            ax.plot(x, mean, marker="o", ms=3, color=f"C{colour}", label=name)
            ax.fill_between(
                x,
                [m - d for m, d in zip(mean, std, strict=True)],
                [m + d for m, d in zip(mean, std, strict=True)],
                color=f"C{colour}",
                alpha=0.2,
                lw=0,
            )
    axes[-1].set_yscale("log")  # EPIG and BALD values differ by orders of magnitude
    for ax, m in zip(axes, [*metrics, "acquisition"], strict=True):
        ax.set_xlabel("labels")
        label = f"recall of {m[len('recall_') :]}s" if m.startswith("recall_") else LABELS.get(m)
        ax.set_ylabel(label or "mean acquisition value of batch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
