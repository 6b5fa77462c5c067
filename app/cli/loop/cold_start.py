"""``galactive cold-start``: a new survey's first label queues, before it has any model."""

from __future__ import annotations

import typer

from app.cli.common import fail, ready
from app.services.loop.cold_start import cold_start_queues
from app.services.loop.queues import QUEUE_SIZE


def cold_start(
    ctx: typer.Context,
    survey: str = typer.Option(..., "--survey", help="The survey to queue."),
    size: int = typer.Option(QUEUE_SIZE, "--size", min=1, help="Galaxies per task's queue."),
    seed: int = typer.Option(0, "--seed", help="Seed of the colour clustering."),
) -> None:
    """Queue the first galaxies to label in every classification task, chosen for coverage:
    the most typical galaxy of each of the largest colour clusters not yet labelled
    (TypiClust). The first model's queues replace these."""
    settings = ready(ctx)
    try:
        queued = cold_start_queues(settings, survey, size=size, seed=seed)
    except ValueError as err:
        fail(str(err))
    for task, n in queued.items():
        typer.echo(f"{task}: {n} galaxies queued for labels by typicality (TypiClust on colours)")
