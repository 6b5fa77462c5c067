"""Write a comparison as ``evaluation.md`` (tables, acceptance checks) and PNG figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

from app.services.evaluation import Comparison, Result
from app.services.metrics import point_estimate, predictive_pit
from bayes import metrics as bm
from bayes.config import TaskConfig

FUSED = ("early", "feature", "late")
SINGLE = ("image", "spectrum", "photometry")
COVERAGE_TARGETS = {"coverage_68": (0.63, 0.73), "coverage_95": (0.92, 0.98)}
ECE_TARGET = 0.03


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _table(header: Sequence[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in rows]


def _get(result: Result, task: str, key: str) -> Any:
    return result.metrics.get(task, {}).get(key)


def tables(results: list[Result], tasks: dict[str, str]) -> list[str]:
    """Markdown tables, one per task; tasks maps a name to "classification"/"redshift"/"other"."""
    out: list[str] = []
    for task, kind in tasks.items():
        out += ["", f"### {task}", ""]
        if kind == "classification":
            keys = ["n", "accuracy", "macro_f1", "ece"]
            header = ["model", "n test", "accuracy", "macro-F1", "ECE"]
        elif kind == "redshift":
            keys = ["n", "sigma_nmad", "sigma_nmad_image_spectrum", "n_image_spectrum"]
            keys += ["sigma_nmad_rest", "outlier_fraction", "bias", "coverage_68", "coverage_95"]
            header = ["model", "n test", "σ_NMAD", "σ_NMAD image+spectrum", "n image+spectrum"]
            header += ["σ_NMAD rest", "outlier fraction", "bias", "68% coverage", "95% coverage"]
        else:
            keys = ["n", "rmse", "r2", "coverage_68", "coverage_95"]
            header = ["model", "n test", "RMSE", "R²", "68% coverage", "95% coverage"]
        rows = [[r.name, *(_get(r, task, k) for k in keys)] for r in results if task in r.metrics]
        out += _table(header, rows)
    return out


def checks(results: list[Result], *, redshift: str, morphology: str) -> list[str]:
    """The issue's acceptance checks, each as a line with its numbers and PASS / MISS."""
    by = {r.name: r for r in results if r.kind == "bayes"}
    lines = []

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    singles = {n: _get(by[n], redshift, "sigma_nmad_image_spectrum") for n in SINGLE if n in by}
    singles = {n: v for n, v in singles.items() if v is not None}
    for f in FUSED:
        if f not in by or not singles:
            continue
        fused = _get(by[f], redshift, "sigma_nmad_image_spectrum")
        best = min(singles, key=singles.get)
        ok = fused is not None and fused < singles[best]
        lines.append(
            f"- {verdict(ok)} — {f} fusion σ_NMAD on image+spectrum galaxies {_fmt(fused)} vs best "
            f"single modality ({best}) {_fmt(singles[best])}"
        )
    if "image" in by and "image+photometry" in by:
        a = _get(by["image+photometry"], redshift, "sigma_nmad_rest")
        b = _get(by["image"], redshift, "sigma_nmad_rest")
        lines.append(
            f"- {verdict(a < b)} — image+photometry σ_NMAD on the rest {_fmt(a)} vs image "
            f"alone {_fmt(b)}"
        )
    for name, r in by.items():
        ece = _get(r, morphology, "ece")
        c68, c95 = _get(r, redshift, "coverage_68"), _get(r, redshift, "coverage_95")
        ok_cov = all(
            v is not None and lo <= v <= hi
            for v, (lo, hi) in zip((c68, c95), COVERAGE_TARGETS.values(), strict=True)
        )
        lines.append(
            f"- {name}: morphology ECE {_fmt(ece)} {verdict(ece is not None and ece <= ECE_TARGET)}"
            f" (≤ {ECE_TARGET}); redshift coverage 68% {_fmt(c68)}, 95% {_fmt(c95)} "
            f"{verdict(ok_cov)} (63–73%, 92–98%)"
        )
    return lines


def reliability_figure(comparison: Comparison, task: str, path: Path) -> None:
    """Accuracy vs confidence in 15 bins of top-class probability, one line per fused variant."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect")
    edges = np.linspace(0, 1, 16)
    for name, (posterior, targets, _) in comparison.posteriors.items():
        if name not in FUSED or task not in posterior.probs:
            continue
        ok = targets[task] >= 0
        probs, y = posterior.probs[task][ok].mean(1), targets[task][ok]
        conf, correct = probs.max(1), probs.argmax(1) == y
        which = np.minimum((conf * 15).astype(int), 14)
        count = np.bincount(which, minlength=15)
        acc = np.bincount(which, weights=correct, minlength=15) / np.maximum(count, 1)
        centre = np.bincount(which, weights=conf, minlength=15) / np.maximum(count, 1)
        ece = bm.expected_calibration_error(probs, y)
        ax.plot(centre[count > 0], acc[count > 0], "o-", ms=3, label=f"{name} (ECE {ece:.3f})")
    ax.set(xlabel="confidence (top-class probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    ax.set_title(f"{task}: reliability (test split)")
    ax.legend(fontsize=8)
    ax.set_xticks(edges[::3])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pit_figure(comparison: Comparison, tasks: Sequence[TaskConfig], path: Path) -> None:
    """PIT histograms (10 bins, density) of each regression task for the fused variants."""
    regressions = [t.name for t in tasks if not t.is_classification]
    fig, axes = plt.subplots(1, len(regressions), figsize=(4.5 * len(regressions), 3.6))
    for ax, task in zip(np.atleast_1d(axes), regressions, strict=True):
        for name, (posterior, targets, _) in comparison.posteriors.items():
            if name not in FUSED or task not in posterior.draws:
                continue
            config = next(t for t in tasks if t.name == task)
            values = predictive_pit(config, posterior, targets[task], np.isfinite(targets[task]))
            density, edges = bm.pit_histogram(values)
            ax.stairs(density, edges, label=name)
        ax.axhline(1.0, color="k", ls=":", lw=1)
        ax.set(xlabel="PIT", ylabel="density", title=f"{task}: PIT (flat = calibrated)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def redshift_figure(comparison: Comparison, task: TaskConfig, variant: str, path: Path) -> None:
    """z_pred (posterior median) vs z_true for one variant, galaxies with spectra highlighted."""
    posterior, targets, present = comparison.posteriors[variant]
    z_true, z_pred = targets[task.name], point_estimate(task, posterior)
    spec = present[:, 1]
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.scatter(z_true[~spec], z_pred[~spec], s=2, alpha=0.4, label="no spectrum")
    ax.scatter(z_true[spec], z_pred[spec], s=4, alpha=0.7, label="image + spectrum")
    hi = float(max(z_true.max(), z_pred.max()))
    ax.plot([0, hi], [0, hi], "k:", lw=1)
    ax.set(xlabel="z true", ylabel="z predicted (posterior median)", xlim=(0, hi), ylim=(0, hi))
    ax.set_title(f"redshift, {variant} fusion (test split)")
    ax.legend(fontsize=8, markerscale=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    comparison: Comparison,
    tasks: tuple[TaskConfig, ...],
    out: Path,
    *,
    preamble: Sequence[str],
    sequential: list[Result] | None = None,
) -> Path:
    """Write ``out``/evaluation.md and ``out``/img/eval_*.png; returns the markdown path.

    preamble: lines placed under the title (command, machine, timings).
    """
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    kinds = {
        t.name: "classification"
        if t.is_classification
        else ("redshift" if t.transform == "log1p" else "other")
        for t in tasks
    }
    redshift = next((t for t in tasks if kinds[t.name] == "redshift"), None)
    morphology = next((t for t in tasks if kinds[t.name] == "classification"), None)
    regressions = [t.name for t in tasks if not t.is_classification]
    lines = ["# Evaluation: the seed paper's comparison on the held-out split", "", *preamble]
    lines += ["", "## Results (test split; posteriors recalibrated on the validation split)"]
    lines += tables(comparison.results, kinds)
    lines += ["", "### Cost", ""]
    lines += _table(
        ["model", "n train", "fit s", "predict s", "calibration"],
        [
            [r.name, r.n_train, r.fit_seconds, r.predict_seconds, _calibration(r)]
            for r in comparison.results
        ],
    )
    if redshift is not None and morphology is not None:
        lines += ["", "## Acceptance checks (issue 3)", ""]
        lines += checks(comparison.results, redshift=redshift.name, morphology=morphology.name)
    if sequential:
        lines += ["", "## Sequential update: 10% more labels", ""]
        lines += [
            "A base model is fitted on 90% of the training galaxies; the other 10% then arrive. "
            "*scratch* refits on all, *warm* starts from the base (all labels, fewer epochs), "
            "*prior* makes the base posterior the prior and anchors the trunk (new labels only). "
            "Each is recalibrated on validation and scored on test.",
            "",
        ]
        lines += sequential_table(sequential, kinds)
    figures = []
    if morphology is not None:
        reliability_figure(comparison, morphology.name, img / "eval_reliability.png")
        figures.append(("reliability diagram", "eval_reliability.png"))
    if regressions:
        pit_figure(comparison, tasks, img / "eval_pit.png")
        figures.append(("PIT histograms", "eval_pit.png"))
    fused = [v for v in FUSED if v in comparison.posteriors]
    if redshift is not None and fused:
        variant = "feature" if "feature" in fused else fused[0]
        redshift_figure(comparison, redshift, variant, img / "eval_redshift.png")
        figures.append(("z predicted vs z true", "eval_redshift.png"))
    lines += ["", "## Figures", ""] + [f"![{alt}](img/{name})" for alt, name in figures]
    path = out / "evaluation.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def sequential_table(results: list[Result], kinds: dict[str, str]) -> list[str]:
    """One row per update strategy: cost and the headline metric of every task."""
    header, keys = ["step", "n fitted", "fit s"], []
    for task, kind in kinds.items():
        if kind == "classification":
            chosen = [("accuracy", "accuracy"), ("ece", "ECE")]
        elif kind == "redshift":
            chosen = [("sigma_nmad", "σ_NMAD"), ("coverage_68", "68%"), ("coverage_95", "95%")]
        else:
            chosen = [("rmse", "RMSE"), ("coverage_68", "68%")]
        keys += [(task, k) for k, _ in chosen]
        header += [f"{task} {label}" for _, label in chosen]
    rows = [[r.name, r.n_train, r.fit_seconds, *(_get(r, t, k) for t, k in keys)] for r in results]
    return _table(header, rows)


def _calibration(result: Result) -> str:
    parts = [f"τ {k} {v:.3g}" for k, v in result.calibration.get("temperature", {}).items()]
    parts += [f"s {k} {v:.3g}" for k, v in result.calibration.get("spread", {}).items()]
    return "; ".join(parts) or "—"
