"""``galactive followup``: plan tonight's spectroscopic targets; measure the plan against random."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from app.cli.common import fail, ready
from app.cli.progress import bar
from app.cli.train import set_threads
from app.services.followup.evaluation import STRATEGY_TEXT, evaluate_followup, gain_figure
from app.services.followup.export import format_for, write_targets
from app.services.followup.plan import plan_followup
from app.services.followup.plan import save_queue as save_plan
from bayes.followup import SNModel

T = TypeVar("T")
app = typer.Typer(
    help="Spectroscopic follow-up: targets ranked by redshift information per telescope hour.",
    no_args_is_help=True,
)


def _run(label: str, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a follow-up service under a progress bar; its ValueError becomes a CLI error."""
    with bar(None, label) as advance:
        try:
            return service(*args, progress=advance, **kwargs)
        except ValueError as err:
            fail(str(err))


def _sn_model(snr: float, overhead: float, max_exposure: float) -> SNModel:
    """An SNModel with the command's options; BadParameter naming the option that is wrong."""
    try:
        return SNModel(snr_target=snr, overhead_s=overhead, max_exposure_s=max_exposure)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err


@app.command("plan")
def plan(
    ctx: typer.Context,
    survey: str = typer.Option("mock", "--survey", help="Survey to plan for."),
    budget_hours: float | None = typer.Option(
        None, "--budget-hours", min=0.0, help="Telescope hours (exposure + overhead)."
    ),
    budget_fibers: int | None = typer.Option(
        None, "--budget-fibers", min=0, help="Most targets (fibers or slots)."
    ),
    snr: float = typer.Option(SNModel.snr_target, "--snr", min=0.1, help="Target S/N per pixel."),
    overhead: float = typer.Option(
        SNModel.overhead_s, "--overhead", min=0.0, help="Seconds per target."
    ),
    max_exposure: float = typer.Option(
        SNModel.max_exposure_s,
        "--max-exposure",
        min=1.0,
        help="Longest exposure (s); fainter is excluded.",
    ),
    version: int | None = typer.Option(
        None, "--version", help="Model version id (default: the survey's active one)."
    ),
    task: str = typer.Option("redshift", "--task", help="Regression task a spectrum pins down."),
    k: int = typer.Option(16, "--k", min=1, help="Reference galaxies per gain estimate."),
    out: Path | None = typer.Option(
        None, "--out", help="Write the targets: .csv, .fits or .vot/.xml (VOTable)."
    ),
    save_queue: bool = typer.Option(
        False, "--save-queue", help="Replace the pending follow-up queue with this plan."
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="Torch CPU threads."),
) -> None:
    """Choose galaxies without spectra to observe, greedily by expected gain per hour."""
    if budget_hours is None and budget_fibers is None:
        raise typer.BadParameter("give --budget-hours and/or --budget-fibers")
    if out is not None:
        try:
            format_for(out)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--out") from err
    sn = _sn_model(snr, overhead, max_exposure)
    set_threads(threads)
    settings = ready(ctx)
    result = _run(
        f"follow-up {survey}: predict", plan_followup, settings, survey, version_id=version,
        task=task, sn_model=sn, budget_hours=budget_hours, budget_fibers=budget_fibers, k=k,
    )  # fmt: skip
    typer.echo(
        f"plan from {result.model_version}: {len(result)} of {result.n_candidates} galaxies "
        f"without spectra ({result.n_excluded} too faint or without an r magnitude, "
        f"{result.n_no_gain} with no expected gain), "
        f"{result.hours:.2f} h, expected gain {result.expected_gain.sum():.2f} nats"
    )
    for i in range(min(len(result), 5)):
        typer.echo(
            f"  {result.source_id[i]}  ra {result.ra[i]:.5f}  dec {result.dec[i]:+.5f}  "
            f"r {result.mag[i]:.2f}  {result.exposure_s[i]:.0f} s  "
            f"{result.gain_per_hour[i]:.2f} nats/h"
        )
    if out is not None:
        write_targets(result, out)
        typer.echo(f"targets written to {out}")
    if save_queue:
        engine = settings.engine()
        try:
            queued = save_plan(engine, result)
        finally:
            engine.dispose()
        typer.echo(f"follow-up queue for {task}: {queued} pending targets")


def parse_budgets(text: str) -> tuple[float, ...]:
    """ "2,5,10" -> (2.0, 5.0, 10.0); BadParameter naming a value that is not positive hours."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as err:
        raise typer.BadParameter(f"budgets must be numbers of hours, got {text!r}") from err
    if not values or min(values) <= 0:
        raise typer.BadParameter(f"budgets must be positive hours, got {text!r}")
    return values


@app.command("evaluate")
def evaluate(
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
    threads: int | None = typer.Option(None, "--threads", min=1, help="Torch CPU threads."),
) -> None:
    """Hide held-out spectra, plan from them, 'observe', and compare with random follow-up."""
    hours = parse_budgets(budgets)
    sn = _sn_model(snr, overhead, SNModel.max_exposure_s)
    set_threads(threads)
    settings = ready(ctx)
    result = _run(
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
