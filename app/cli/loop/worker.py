"""``galactive worker`` runs jobs; ``galactive retrain`` queues one (and can wait for it)."""

from __future__ import annotations

import time

import typer

from app.cli.common import DEVICE, DEVICE_HELP, bar, device_or_fail, fail, ready
from app.services.loop.retrain import request_retrain
from app.services.loop.rounds import ROUNDS
from app.worker import WorkerOptions, run_worker
from bayes.config import WARM_MIN_STEPS
from storage.db import session_scope
from storage.models import Job


def worker(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Exit when no job is waiting."),
    poll: float = typer.Option(2.0, "--poll", min=0.05, help="Seconds between looks for jobs."),
    stale_after: float = typer.Option(
        60.0, "--stale-after", min=0.5, help="Seconds of silence before a job is retried."
    ),
    retrain_every: int | None = typer.Option(
        None, "--retrain-every", min=1, help="Queue a retrain after this many new labels."
    ),
    survey: str = typer.Option("mock", "--survey", help="Survey watched by --retrain-every."),
    device: str = DEVICE,
) -> None:
    """Run retrain jobs from the database: update the model, score the pool, switch, re-queue.
    Jobs fit and score on ``--device`` unless they name their own (``retrain --device``)."""
    device = device_or_fail(device)
    settings = ready(ctx)
    options = WorkerOptions(
        poll=poll,
        stale_after=stale_after,
        retrain_every=retrain_every,
        survey=survey,
        once=once,
        device=device,
    )
    last: dict[int, float] = {}

    def show(job_id: int, progress: float, message: str) -> None:
        if progress - last.get(job_id, -1.0) >= 0.05 or progress >= 1.0:
            typer.echo(f"job {job_id}: {progress:4.0%} {message}", err=True)
            last[job_id] = progress

    done = run_worker(settings, options, on_progress=show)
    typer.echo(f"worker finished {done} job(s)")


def retrain(
    ctx: typer.Context,
    survey: str = typer.Option("mock", "--survey", help="Survey whose model to update."),
    epochs: int | None = typer.Option(
        None, "--epochs", min=1, help="Update epochs (default: a third of the active model's)."
    ),
    min_steps: int | None = typer.Option(
        None,
        "--min-steps",
        min=0,
        help=f"Floor on optimiser steps (default: the active model's, at most {WARM_MIN_STEPS}).",
    ),
    round_kind: str = typer.Option(
        "auto",
        "--round",
        help="heads: keep the trunk, refit the heads, rescore from cached latents; full: trunk "
        "and heads; auto: heads-only while the labels since the trunk's fit are few.",
    ),
    wait: bool = typer.Option(False, "--wait", help="Wait for a worker to finish it."),
    device: str | None = typer.Option(
        None, "--device", help=f"{DEVICE_HELP} Default: the worker's own (`worker --device`)."
    ),
) -> None:
    """Queue a retrain round (sequential update, scoring, queue rebuild) for the worker."""
    if round_kind not in ROUNDS:
        fail(f"--round must be one of {', '.join(ROUNDS)}, got {round_kind!r}")
    if device is not None:
        device = device_or_fail(device)
    settings = ready(ctx)
    engine = settings.engine()
    try:
        with session_scope(engine) as session:
            job_id = request_retrain(
                session, survey, epochs=epochs, min_steps=min_steps, round=round_kind,
                device=device,
            )  # fmt: skip
        typer.echo(f"retrain job {job_id} queued for survey {survey!r}")
        if not wait:
            return
        with bar(100, f"job {job_id}", unit="%") as advance:
            shown = 0
            while True:
                with session_scope(engine) as session:
                    job = session.get(Job, job_id)
                    status, progress, message, error = (
                        job.status, job.progress, job.message, job.error,
                    )  # fmt: skip
                advance(int(progress * 100) - shown)
                shown = int(progress * 100)
                if status in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(1.0)
    finally:
        engine.dispose()
    if status != "succeeded":
        fail(f"job {job_id} {status}: {error or message}")
    typer.echo(f"job {job_id}: {message}")
