"""``python -m research compare``: arms run as separate experiments (from scratch, on one
encoder, on another), side by side — a table of mean ± std per label count, each arm's paired
difference from the first, and one learning-curve figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import typer

from app.services.experiments.plot import plot_experiment
from app.services.experiments.summary import aggregate


def _arm(spec: str) -> tuple[str, Path]:
    """'name=path.json' -> (name, path)."""
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise typer.BadParameter(f"{spec!r}: expected NAME=RESULT.json", param_hint="ARMS")
    return name, Path(path)


def _value(metrics: dict[str, Any], metric: str) -> float:
    """A record's metric; NaN where it is None (a class with no test galaxy)."""
    if metric not in metrics:
        raise typer.BadParameter(f"no metric {metric!r}; the runs have {sorted(metrics)}")
    value = metrics[metric]
    return np.nan if value is None else float(value)


def comparison(arms: dict[str, dict[str, Any]], strategy: str, metric: str) -> list[str]:
    """Markdown rows: labels, each arm's mean ± std (ddof 1) over seeds, and each later arm's
    paired difference from the first (mean, and in how many seeds it is lower)."""
    series = {}
    for name, result in arms.items():
        seeds = result["strategies"][strategy]["seeds"]
        series[name] = {
            r["n_labels"]: np.array([_value(run[i]["metrics"], metric) for run in seeds], float)
            for i, r in enumerate(seeds[0])
        }
    names = list(series)
    first = series[names[0]]
    head = ["labels", *names, *(f"{n} minus {names[0]} (lower in)" for n in names[1:])]
    rows = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for n in sorted(first):
        cells = [str(n)]
        for name in names:
            v = series[name].get(n)
            sd = v.std(ddof=1) if v is not None and len(v) > 1 else float("nan")
            cells.append("—" if v is None else f"{v.mean():.4g} ± {sd:.2g}")
        for name in names[1:]:
            v = series[name].get(n)
            if v is None or len(v) != len(first[n]):
                cells.append("—")
                continue
            d = v - first[n]
            cells.append(f"{d.mean():+.3g} ({int((d < 0).sum())}/{len(d)})")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def compare(
    arms: list[str] = typer.Argument(..., help="NAME=RESULT.json, the first is the reference."),
    strategy: str = typer.Option("random", "--strategy", help="The strategy of each run shown."),
    metric: str | None = typer.Option(None, "--metric", help="Default: the runs' primary one."),
    plot: Path | None = typer.Option(None, "--plot", help="Learning-curve PNG of the arms."),
) -> None:
    """Print a markdown table of experiment runs side by side; optionally plot them."""
    loaded = {}
    for spec in arms:
        name, path = _arm(spec)
        try:
            loaded[name] = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise typer.BadParameter(f"{path}: {err}", param_hint="ARMS") from None
        if strategy not in loaded[name]["strategies"]:
            raise typer.BadParameter(f"{path} has no strategy {strategy!r}", param_hint="ARMS")
    first = next(iter(loaded.values()))
    metric = metric or first["setup"]["metrics"][0]
    typer.echo("\n".join(comparison(loaded, strategy, metric)))
    if plot is not None:
        merged = {
            "setup": first["setup"],
            "strategies": {
                name: {"aggregate": aggregate(r["strategies"][strategy]["seeds"])}
                for name, r in loaded.items()
            },
        }
        typer.echo(f"wrote {plot_experiment(merged, plot)}")
