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


def _arm(spec: str, strategy: str) -> tuple[str, Path, str]:
    """'name=path.json[@strategy]' -> (name, path, strategy, ``strategy`` when not given)."""
    name, sep, path = spec.partition("=")
    path, at, chosen = path.partition("@")
    if not sep or not name or not path or (at and not chosen):
        raise typer.BadParameter(
            f"{spec!r}: expected NAME=RESULT.json[@STRATEGY]", param_hint="ARMS"
        )
    return name, Path(path), chosen or strategy


def _value(metrics: dict[str, Any], metric: str) -> float:
    """A record's metric; NaN where it is None (a class with no test galaxy)."""
    if metric not in metrics:
        raise typer.BadParameter(f"no metric {metric!r}; the runs have {sorted(metrics)}")
    value = metrics[metric]
    return np.nan if value is None else float(value)


def comparison(arms: dict[str, list[list[dict[str, Any]]]], metric: str) -> list[str]:
    """Markdown rows: labels, each arm's mean ± std (ddof 1) over seeds, and each later arm's
    paired difference from the first (mean, and in how many seeds it is lower). arms: {name:
    one strategy's records, per seed}."""
    series = {}
    for name, seeds in arms.items():
        series[name] = {
            r["n_labels"]: np.array([_value(run[i]["metrics"], metric) for run in seeds], float)
            for i, r in enumerate(seeds[0])
        }
    names = list(series)
    first = series[names[0]]
    head = ["labels", *names, *(f"{n} minus {names[0]} (lower in)" for n in names[1:])]
    rows = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for n in sorted(set().union(*series.values())):  # every label count any arm has
        cells = [str(n)]
        for name in names:
            v = series[name].get(n)
            sd = v.std(ddof=1) if v is not None and len(v) > 1 else float("nan")
            cells.append("—" if v is None else f"{v.mean():.4g} ± {sd:.2g}")
        for name in names[1:]:
            v, ref = series[name].get(n), first.get(n)
            if v is None or ref is None or len(v) != len(ref):
                cells.append("—")
                continue
            d = v - ref
            cells.append(f"{d.mean():+.3g} ({int((d < 0).sum())}/{len(d)})")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def compare(
    arms: list[str] = typer.Argument(
        ..., help="NAME=RESULT.json[@STRATEGY], the first is the reference."
    ),
    strategy: str = typer.Option(
        "random", "--strategy", help="The strategy shown of a run that names none."
    ),
    metric: str | None = typer.Option(None, "--metric", help="Default: the runs' primary one."),
    plot: Path | None = typer.Option(None, "--plot", help="Learning-curve PNG of the arms."),
) -> None:
    """Print a markdown table of experiment runs side by side; optionally plot them."""
    loaded, setup = {}, None
    for spec in arms:
        name, path, shown = _arm(spec, strategy)
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise typer.BadParameter(f"{path}: {err}", param_hint="ARMS") from None
        if shown not in result["strategies"]:
            raise typer.BadParameter(f"{path} has no strategy {shown!r}", param_hint="ARMS")
        loaded[name] = result["strategies"][shown]["seeds"]
        setup = setup or result["setup"]
    metric = metric or setup["metrics"][0]
    typer.echo("\n".join(comparison(loaded, metric)))
    if plot is not None:
        merged = {
            "setup": setup,
            "strategies": {name: {"aggregate": aggregate(seeds)} for name, seeds in loaded.items()},
        }
        typer.echo(f"wrote {plot_experiment(merged, plot)}")
