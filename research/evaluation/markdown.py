"""Write a comparison as ``evaluation.md`` (tables, checks), ``evaluation.json`` and PNG figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from app.services.models.metrics import point_estimate, predictive_pit
from app.services.reports.calibration_plots import coverage_figure, pit_figure
from bayes.checks import metrics as bm
from bayes.config import TaskConfig
from bayes.targets import known
from research.evaluation.baseline_floor import floor_checks, floor_sentences
from research.evaluation.record import evaluation_json, write_json
from research.evaluation.run import Comparison, Result

FUSED = ("early", "feature", "late")
SINGLE = ("image", "spectrum", "photometry")
COVERAGE_TARGETS = {"coverage_68": (0.63, 0.73), "coverage_95": (0.92, 0.98)}
ECE_TARGET = 0.03
CDE_NOTE = (
    "CDE loss: mean over galaxies of ∫ p(y)² dy - 2 p(y_true), in natural units (z for "
    "redshift); lower is better (the LSST DESC / RAIL convention)."
)


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


def task_kinds(tasks: Sequence[TaskConfig]) -> dict[str, str]:
    """{task: "classification" | "redshift" (fitted in log(1 + z)) | "other"}."""
    return {
        t.name: "classification"
        if t.is_classification
        else ("redshift" if t.transform == "log1p" else "other")
        for t in tasks
    }


def tables(results: list[Result], tasks: dict[str, str]) -> list[str]:
    """Markdown tables, one per task; tasks maps a name to "classification"/"redshift"/"other".

    "n train" is the number of known targets of the task the model was fitted on.
    """
    out: list[str] = []
    for task, kind in tasks.items():
        out += ["", f"### {task}", ""]
        if kind == "classification":
            keys = ["n", "accuracy", "macro_f1", "ece"]
            header = ["model", "n train", "n test", "accuracy", "macro-F1", "ECE"]
        elif kind == "redshift":
            keys = ["n", "sigma_nmad", "sigma_nmad_image_spectrum", "n_image_spectrum"]
            keys += ["sigma_nmad_rest", "outlier_fraction", "bias", "coverage_68", "coverage_95"]
            keys += ["cde_loss"]
            header = ["model", "n train", "n test", "σ_NMAD", "σ_NMAD image+spectrum"]
            header += ["n image+spectrum", "σ_NMAD rest", "outlier fraction", "bias"]
            header += ["68% coverage", "95% coverage", "CDE loss"]
        else:
            keys = ["n", "rmse", "r2", "coverage_68", "coverage_95", "cde_loss"]
            header = ["model", "n train", "n test", "RMSE", "R²", "68% coverage", "95% coverage"]
            header += ["CDE loss"]
        rows = [
            [r.name, r.train_labels.get(task), *(_get(r, task, k) for k in keys)]
            for r in results
            if task in r.metrics
        ]
        out += _table(header, rows)
    return out


def coverage_tables(results: list[Result], regressions: Sequence[str]) -> list[str]:
    """Per regression task, observed coverage of every Bayesian variant at each nominal level."""
    out: list[str] = []
    for task in regressions:
        scored = [r for r in results if _get(r, task, "coverage") is not None]
        if not scored:
            continue
        levels = _get(scored[0], task, "coverage_levels")
        out += ["", f"### {task}: coverage of the central interval at each nominal level", ""]
        rows = [
            [f"{100 * level:.0f}%", *(_get(r, task, "coverage")[i] for r in scored)]
            for i, level in enumerate(levels)
        ]
        out += _table(["nominal", *(r.name for r in scored)], rows)
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
    """Accuracy vs confidence in 15 bins of top-class probability, one line per variant."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect")
    edges = np.linspace(0, 1, 16)
    for name, (posterior, targets, _) in comparison.posteriors.items():
        if task not in posterior.probs or task not in targets:
            continue
        ok = targets[task] >= 0
        if not ok.any():
            continue
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
    _save(fig, path)


def regression_pits(
    comparison: Comparison, tasks: Sequence[TaskConfig]
) -> dict[str, dict[str, np.ndarray]]:
    """{regression task: {variant: exact PIT of its known test truths}}, every Bayesian variant
    that predicts the task (whatever its modalities or fusion)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for t in tasks:
        if t.is_classification:
            continue
        out[t.name] = {}
        for name, (posterior, targets, _) in comparison.posteriors.items():
            if t.name not in posterior.loc or t.name not in targets:
                continue
            ok = known(t, targets[t.name])
            if ok.any():
                out[t.name][name] = predictive_pit(t, posterior, targets[t.name], ok)
    return out


def calibration_figures(pits: Mapping[str, Mapping[str, np.ndarray]], img: Path) -> list[str]:
    """Write eval_pit.png and eval_coverage.png from :func:`regression_pits`; their names."""
    if not any(pits.values()):
        return []
    pits = {task: by_variant for task, by_variant in pits.items() if by_variant}
    _save(pit_figure(pits), img / "eval_pit.png")
    _save(coverage_figure(pits), img / "eval_coverage.png")
    return ["eval_pit.png", "eval_coverage.png"]


def redshift_figure(comparison: Comparison, task: TaskConfig, variant: str, path: Path) -> None:
    """z_pred (posterior median) vs z_true for one variant, galaxies with spectra highlighted."""
    posterior, targets, present = comparison.posteriors[variant]
    ok = known(task, targets[task.name])
    z_true, z_pred = targets[task.name][ok], point_estimate(task, posterior)[ok]
    spec = present[ok, 1]
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.scatter(z_true[~spec], z_pred[~spec], s=2, alpha=0.4, label="no spectrum")
    ax.scatter(z_true[spec], z_pred[spec], s=4, alpha=0.7, label="image + spectrum")
    hi = float(max(z_true.max(), z_pred.max()))
    ax.plot([0, hi], [0, hi], "k:", lw=1)
    ax.set(xlabel="z true", ylabel="z predicted (posterior median)", xlim=(0, hi), ylim=(0, hi))
    ax.set_title(f"redshift, {variant} (test split)")
    ax.legend(fontsize=8, markerscale=3)
    _save(fig, path)


def write_report(
    comparison: Comparison,
    tasks: tuple[TaskConfig, ...],
    out: Path,
    *,
    preamble: Sequence[str],
    meta: Mapping[str, Any] | None = None,
    sequential: list[Result] | None = None,
) -> Path:
    """Write ``out``/evaluation.md, ``out``/evaluation.json and ``out``/img/eval_*.png.

    preamble: lines placed under the title (command, machine, timings); meta: the same facts
    as data, written under "run" in evaluation.json. Returns the markdown path.
    """
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    kinds = task_kinds(tasks)
    redshift = next((t for t in tasks if kinds[t.name] == "redshift"), None)
    morphology = next((t for t in tasks if kinds[t.name] == "classification"), None)
    regressions = [t.name for t in tasks if not t.is_classification]
    floor = floor_checks(comparison.results, kinds)
    lines = ["# Evaluation: the seed paper's comparison on the held-out split", "", *preamble]
    if floor:
        lines += ["", "## Against the classical baselines", ""]
        lines += [
            "Headline metric per task on the test split (redshift σ_NMAD, other regressions "
            "RMSE, classification accuracy); the classical baselines learn from the photometry "
            "variant's training labels.",
            "",
        ]
        lines += [f"- {s}" for s in floor_sentences(floor, kinds)]
    lines += ["", "## Results (test split; posteriors recalibrated on the validation split)"]
    lines += tables(comparison.results, kinds)
    if regressions:
        lines += ["", CDE_NOTE]
    lines += coverage_tables(comparison.results, regressions)
    lines += ["", "### Cost", ""]
    lines += _table(
        ["model", "n train", "fit s", "predict s", "calibration", "health (validation)"],
        [
            [r.name, r.n_train, r.fit_seconds, r.predict_seconds, _calibration(r), r.health or "—"]
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
    figures = draw_figures(comparison, tasks, img)
    lines += ["", "## Figures", ""] + [f"![{alt}](img/{name})" for alt, name in figures]
    path = out / "evaluation.md"
    path.write_text("\n".join(lines) + "\n")
    document = evaluation_json(
        comparison.results,
        tasks=kinds,
        floor=floor,
        meta=meta or {"preamble": list(preamble)},
        sequential=sequential,
        figures=[f"img/{name}" for _, name in figures],
    )
    write_json(out / "evaluation.json", document)
    return path


def draw_figures(
    comparison: Comparison, tasks: Sequence[TaskConfig], img: Path
) -> list[tuple[str, str]]:
    """Draw every figure the comparison allows into ``img``; [(alt text, file name)].

    Reliability (classification), PIT and coverage (regressions) for every Bayesian variant;
    z predicted vs true for the feature fusion, else another fused or the first variant.
    """
    kinds = task_kinds(tasks)
    redshift = next((t for t in tasks if kinds[t.name] == "redshift"), None)
    morphology = next((t for t in tasks if kinds[t.name] == "classification"), None)
    figures = []
    if morphology is not None and comparison.posteriors:
        reliability_figure(comparison, morphology.name, img / "eval_reliability.png")
        figures.append(("reliability diagram", "eval_reliability.png"))
    captions = {
        "eval_pit.png": "PIT histograms",
        "eval_coverage.png": "coverage against nominal level",
    }
    names = calibration_figures(regression_pits(comparison, tasks), img)
    figures += [(captions[name], name) for name in names]
    variants = [v for v in FUSED if v in comparison.posteriors] or list(comparison.posteriors)
    variant = "feature" if "feature" in variants else (variants or [None])[0]
    if redshift is not None and variant is not None:
        targets = comparison.posteriors[variant][1].get(redshift.name)
        if targets is not None and known(redshift, targets).any():
            redshift_figure(comparison, redshift, variant, img / "eval_redshift.png")
            figures.append(("z predicted vs z true", "eval_redshift.png"))
    return figures


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


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=110)
    plt.close(fig)
