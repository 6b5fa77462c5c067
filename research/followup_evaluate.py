"""``python -m research followup-evaluate``: hide held-out spectra, plan from them, 'observe',
and compare the planner with random follow-up and simpler rules."""

from __future__ import annotations

from pathlib import Path

import typer

from app.cli.common import ready
from app.cli.loop.followup import sn_model, with_progress
from app.cli.models.train import set_threads
from bayes.followup import SNModel
from research.followup_evaluation import STRATEGY_TEXT, evaluate_followup, gain_figure


def followup_evaluate(
    ctx: typer.Context,
    survey: str = typer.Option("mock", "--survey", help="Survey with held-out spectra."),
    budgets: str = typer.Option("2,5,10,20", "--budgets", help="Comma-separated hours."),
    halvings: int = typer.Option(5, "--halvings", min=1, help="Reference / pool halvings."),
    draws: int = typer.Option(20, "--draws", min=1, help="Random fills per halving."),
    snr: float = typer.Option(SNModel.snr_target, "--snr", min=0.1, help="Target S/N per pixel."),
    overhead: float = typer.Option(
        SNModel.overhead_s, "--overhead", min=0.0, help="Seconds per target."
    ),
    version: int | None = typer.Option(None, "--version", help="Model version id."),
    task: str = typer.Option("redshift", "--task", help="Regression task a spectrum pins down."),
    k: int = typer.Option(16, "--k", min=1, help="Reference galaxies per gain estimate."),
    seed: int = typer.Option(0, "--seed", help="Seed of the halvings and random draws."),
    plot: Path | None = typer.Option(
        None, "--plot", help="Write the width-reduction-vs-hours figure (PNG) here."
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="Torch CPU threads (default: the cores no other process is busy on).",
    ),
) -> None:
    """Hide held-out spectra, plan from them, 'observe', and compare with random follow-up."""
    hours = parse_budgets(budgets)
    sn = sn_model(snr, overhead, SNModel.max_exposure_s)
    set_threads(threads)
    settings = ready(ctx)
    result = with_progress(
        f"follow-up evaluation {survey}: predict", evaluate_followup, settings, survey,
        version_id=version, task=task, sn_model=sn, budgets=hours, halvings=halvings,
        draws=draws, k=k, seed=seed,
    )  # fmt: skip
    typer.echo(
        f"{result.model_version}: {result.n_pool} pool / {result.n_reference} reference "
        f"held-out galaxies with spectra; mean σ[log(1+z)] before {result.mean_width:.4f}; "
        f"S/N {snr:g}, overhead {overhead:g} s. Rates: fall of the pool's mean σ[log(1+z)] "
        "per telescope hour, x10⁻³."
    )
    for line in result.table():
        typer.echo(line)
    typer.echo("strategies: " + "; ".join(f"{k} = {v}" for k, v in STRATEGY_TEXT.items()))
    if plot is not None:
        gain_figure(result, plot)
        typer.echo(f"figure written to {plot}")


def parse_budgets(text: str) -> tuple[float, ...]:
    """ "2,5,10" -> (2.0, 5.0, 10.0); BadParameter naming a value that is not positive hours."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as err:
        raise typer.BadParameter(f"budgets must be numbers of hours, got {text!r}") from err
    if not values or min(values) <= 0:
        raise typer.BadParameter(f"budgets must be positive hours, got {text!r}")
    return values
