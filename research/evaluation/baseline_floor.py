"""The classical floor: is each Bayesian variant better than the best classical baseline?

PRODUCT.md: a model is healthy only when it beats the classical baseline on the same labels.
Each task is judged on its headline metric (redshift σ_NMAD, other regressions RMSE, both
lower is better; classification accuracy, higher is better) on the test split, and every
Bayesian variant that does worse than the best classical baseline is named in a plain sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# task kind -> (metric key, label, higher is better)
HEADLINE: dict[str, tuple[str, str, bool]] = {
    "classification": ("accuracy", "accuracy", True),
    "redshift": ("sigma_nmad", "σ_NMAD", False),
    "other": ("rmse", "RMSE", False),
}


class Scored(Protocol):
    """What the floor reads of an evaluation result (``research.evaluation.run.Result``)."""

    name: str
    kind: str
    metrics: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class FloorCheck:
    """One Bayesian variant against the best classical baseline on one task's headline metric."""

    task: str
    metric: str
    variant: str
    value: float
    n: int | None
    baseline: str
    baseline_value: float
    baseline_n: int | None
    worse: bool


def baseline_words(name: str, kind: str) -> str:
    """A classical result's name in words: "forest (photometry)" -> "random forest"."""
    model = name.split(" ", 1)[0]
    if model == "forest":
        return "random forest"
    if model == "linear":
        return "logistic regression" if kind == "classification" else "linear regression"
    return name


def floor_checks(results: Sequence[Scored], kinds: Mapping[str, str]) -> list[FloorCheck]:
    """Every Bayesian variant against the best classical result of each task.

    kinds: {task: "classification" | "redshift" | "other"}. Tasks without a classical result
    with the metric, and variants without it, are left out.
    """
    checks = []
    for task, kind in kinds.items():
        key, _, higher = HEADLINE[kind]

        def value(r: Scored, key: str = key, task: str = task) -> Any:
            return r.metrics.get(task, {}).get(key)

        classical = [r for r in results if r.kind == "classical" and value(r) is not None]
        if not classical:
            continue
        best = (max if higher else min)(classical, key=value)
        for r in results:
            v = value(r)
            if r.kind != "bayes" or v is None:
                continue
            worse = v < value(best) if higher else v > value(best)
            checks.append(
                FloorCheck(
                    task=task,
                    metric=key,
                    variant=r.name,
                    value=float(v),
                    n=r.metrics[task].get("n"),
                    baseline=best.name,
                    baseline_value=float(value(best)),
                    baseline_n=best.metrics[task].get("n"),
                    worse=bool(worse),
                )
            )
    return checks


def floor_sentences(checks: Sequence[FloorCheck], kinds: Mapping[str, str]) -> list[str]:
    """Plain sentences: one per variant worse than the floor, else one saying none is."""
    lines = []
    for task, kind in kinds.items():
        mine = [c for c in checks if c.task == task]
        if not mine:
            continue
        label = HEADLINE[kind][1]
        baseline = baseline_words(mine[0].baseline, kind)
        worse = [c for c in mine if c.worse]
        for c in worse:
            a, b = _pair(c.value, c.baseline_value)
            where = (
                "" if c.n == c.baseline_n else f" (on {c.n} test galaxies against {c.baseline_n})"
            )
            lines.append(
                f"The Bayesian {c.variant} model is worse than the {baseline} on {task}: "
                f"{label} {a} against {b}{where}."
            )
        if not worse:
            lines.append(
                f"On {task} no Bayesian variant is worse than the best classical baseline "
                f"({baseline}, {label} {mine[0].baseline_value:.3g})."
            )
    return lines


def _pair(a: float, b: float) -> tuple[str, str]:
    """Both numbers to 3 significant figures, or more until they read differently."""
    for digits in range(3, 8):
        sa, sb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if sa != sb:
            break
    return sa, sb
