"""``galactive score``: score a model version's whole pool, in one process or on Dask."""

from __future__ import annotations

import time

import typer
from sqlalchemy import select

from app.cli.common import DEVICE, THREADS, bar, device_or_fail, fail, ready
from app.cli.models.train import set_threads
from app.services.loop.distributed import score_pool_dask
from app.services.loop.scoring import CHUNK, score_pool
from storage.db import session_scope
from storage.models import ModelVersion


def score(
    ctx: typer.Context,
    version: int | None = typer.Option(
        None, "--version", help="Model version id (default: the only active one)."
    ),
    dask: bool = typer.Option(False, "--dask", help="Score on a Dask cluster."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address (default: a LocalCluster here)."
    ),
    workers: int = typer.Option(2, "--workers", min=1, help="LocalCluster worker processes."),
    chunk: int = typer.Option(
        CHUNK, "--chunk", min=1, help="Galaxies read, predicted and screened together."
    ),
    partition: int = typer.Option(
        4 * CHUNK, "--partition", min=1, help="Galaxies per Dask partition (a multiple of --chunk)."
    ),
    threads: int | None = THREADS,
    device: str = DEVICE,
) -> None:
    """Write BALD / information-gain scores and posterior summaries of every galaxy."""
    device = device_or_fail(device)
    if (dask or scheduler) and device != "cpu":
        fail("--device applies to scoring in this process; Dask workers score on their CPUs")
    set_threads(threads)
    settings = ready(ctx)
    engine = settings.engine()
    try:
        with session_scope(engine) as session:
            stmt = select(ModelVersion.id).where(ModelVersion.status == "ready")
            if version is None:
                stmt = stmt.where(ModelVersion.is_active.is_(True))
            else:
                stmt = stmt.where(ModelVersion.id == version)
            found = session.scalars(stmt).all()
        if len(found) != 1:
            fail("name a ready model version with --version" if found else "no such model version")
        start = time.perf_counter()
        if dask or scheduler:
            with bar(None, "partitions", unit="partition") as advance:

                def partition_done(_done: int, total: int) -> None:
                    advance.plan(total)
                    advance(1)

                n = score_pool_dask(
                    settings,
                    found[0],
                    scheduler=scheduler,
                    workers=workers,
                    partition=partition,
                    chunk=chunk,
                    on_partition=partition_done,
                )
        else:
            with bar(None, "scoring") as advance:
                last = [0]

                def step(done: int, total: int) -> None:
                    advance.plan(total)
                    advance(done - last[0])
                    last[0] = done

                n = score_pool(
                    engine, settings.store(), settings.home, found[0], chunk=chunk,
                    on_chunk=step, cache=settings.latents(), device=device,
                )  # fmt: skip
    finally:
        engine.dispose()
    typer.echo(f"version {found[0]}: {n} score rows in {time.perf_counter() - start:.1f} s")
