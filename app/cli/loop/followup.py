"""``galactive followup``: plan tonight's spectroscopic targets (``python -m research
followup-evaluate`` measures the planner against random)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer

from app.cli.common import bar, fail, ready
from app.cli.models.train import set_threads
from app.services.followup.export import LAYOUTS, format_for, write_targets
from app.services.followup.night import LOW_DEG, SITES, night
from app.services.followup.plan import plan_followup
from app.services.followup.queue import save_queue as save_plan
from bayes.followup import SNModel

T = TypeVar("T")
app = typer.Typer(
    help="Spectroscopic follow-up: targets ranked by redshift information per telescope hour.",
    no_args_is_help=True,
)


def with_progress(label: str, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a follow-up service under a progress bar; its ValueError becomes a CLI error."""
    with bar(None, label) as advance:
        try:
            return service(*args, progress=advance, **kwargs)
        except ValueError as err:
            fail(str(err))


def sn_model(snr: float, overhead: float, max_exposure: float) -> SNModel:
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
    layout: str = typer.Option(
        "galactive",
        "--layout",
        help="Columns of --out: galactive, desi (fibre-assignment targets) or 4most (a target "
        "catalogue for its exposure-time calculator).",
    ),
    save_queue: bool = typer.Option(
        False, "--save-queue", help="Replace the pending follow-up queue with this plan."
    ),
    site: str | None = typer.Option(
        None, "--site", help=f"Observatory, for the night's airmasses: {', '.join(SITES)}."
    ),
    night_of: datetime | None = typer.Option(
        None,
        "--night",
        formats=["%Y-%m-%d"],
        help="Local evening the night starts on (default: today, UTC), with --site.",
    ),
    keep_low: bool = typer.Option(
        False,
        "--keep-low",
        help=f"With --site, also plan galaxies that never rise above {LOW_DEG:g}° that night.",
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="Torch CPU threads (default: the cores no other process is busy on).",
    ),
) -> None:
    """Choose galaxies without spectra to observe, greedily by expected gain per hour."""
    if budget_hours is None and budget_fibers is None:
        raise typer.BadParameter("give --budget-hours and/or --budget-fibers")
    if out is not None:
        try:
            format_for(out)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--out") from err
    if layout not in LAYOUTS:
        raise typer.BadParameter(f"unknown layout {layout!r}; use one of {LAYOUTS}")
    sn = sn_model(snr, overhead, max_exposure)
    tonight = None
    if site is not None:
        try:
            tonight = night(site, (night_of or datetime.now(UTC)).date())
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--site") from err
    set_threads(threads)
    settings = ready(ctx)
    result = with_progress(
        f"follow-up {survey}: predict", plan_followup, settings, survey, version_id=version,
        task=task, sn_model=sn, budget_hours=budget_hours, budget_fibers=budget_fibers, k=k,
        tonight=tonight, above_only=not keep_low,
    )  # fmt: skip
    typer.echo(
        f"plan from {result.model_version}: {len(result)} of {result.n_candidates} galaxies "
        f"without spectra ({result.n_excluded} too faint or without an r magnitude, "
        f"{result.n_no_gain} with no expected gain), "
        f"{result.hours:.2f} h, expected gain {result.expected_gain.sum():.2f} nats"
    )
    if tonight is not None:
        typer.echo(result.night_summary())
    for i in range(min(len(result), 5)):
        typer.echo(
            f"  {result.source_id[i]}  ra {result.ra[i]:.5f}  dec {result.dec[i]:+.5f}  "
            f"r {result.mag[i]:.2f}  {result.exposure_s[i]:.0f} s  "
            f"{result.gain_per_hour[i]:.2f} nats/h"
        )
    if out is not None:
        write_targets(result, out, layout=layout)
        typer.echo(f"targets written to {out}")
    if save_queue:
        engine = settings.engine()
        try:
            queued = save_plan(engine, result)
        finally:
            engine.dispose()
        typer.echo(f"follow-up queue for {task}: {queued} pending targets")
