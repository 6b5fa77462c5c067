"""What every command shares: resolved settings, schema checks, error reporting, progress bars
and the one line on the machine a run used."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import typer
from sqlalchemy import Engine, inspect
from tqdm import tqdm

from app.config import Settings, resolve
from storage import migrate
from storage.errors import IngestError

THREADS = typer.Option(
    None,
    "--threads",
    min=1,
    help="Torch CPU threads (default: the cores no other process is busy on).",
)
DEVICE_HELP = "Where the network runs: cpu, cuda, cuda:N, mps, or auto (a GPU if there is one)."
DEVICE = typer.Option("cpu", "--device", help=DEVICE_HELP)


@dataclass
class State:
    """Global options, resolved lazily so ``--help`` never touches a database."""

    db_url: str | None
    home: str | None

    def settings(self) -> Settings:
        return resolve(self.db_url, self.home)


def settings(ctx: typer.Context) -> Settings:
    """Settings for this invocation, with the data directory created."""
    resolved = ctx.find_root().obj.settings()
    resolved.home.mkdir(parents=True, exist_ok=True)
    return resolved


def ready(ctx: typer.Context) -> Settings:
    """Settings whose database is at the newest schema.

    An empty database is migrated on first use; one at an older revision is left for
    ``galactive db upgrade`` so a team's database never changes schema unannounced.
    """
    resolved = settings(ctx)
    engine = resolved.engine()
    try:
        current = migrate.current_revision(engine)
        empty = current is None and not inspect(engine).get_table_names()
    finally:
        engine.dispose()
    head = migrate.head_revision()
    if empty:
        migrate.upgrade(resolved.db_url)
    elif current != head:
        fail(f"database is at revision {current}, code expects {head}: run `galactive db upgrade`")
    return resolved


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error to stderr and exit."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """An engine on ``settings``' database, disposed however the command ends (a bad-input
    exit included: an engine left to the garbage collector holds its connections open)."""
    engine = settings.engine()
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn bad-input errors into one clear line and exit status 2."""
    try:
        yield
    except (IngestError, FileNotFoundError) as err:
        fail(str(err))


def device_or_fail(name: str | None) -> str:
    """The device ``name`` stands for here ("cuda" for "auto" on a GPU machine); an error
    saying what is missing, and exit status 2, if this machine lacks it."""
    from bayes.device import resolve_device  # imports torch: not for --help

    try:
        return str(resolve_device(name))
    except ValueError as err:
        fail(str(err))


def machine() -> str:
    """One line on where this ran: CPU, cores, torch threads, Python and torch versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}"
    )


class Advance:
    """A bar's handle: ``advance(n)`` moves it on; ``advance.plan(total)`` sets the total once
    it is known (a fit knows its epochs only after the step floor has raised them)."""

    def __init__(self, pbar: tqdm) -> None:
        self._pbar = pbar

    def __call__(self, n: int = 1) -> None:
        self._pbar.update(n)

    def plan(self, total: int) -> None:
        self._pbar.total = total
        self._pbar.refresh()


@contextmanager
def bar(total: int | None, desc: str, unit: str = "galaxy") -> Iterator[Advance]:
    """A tqdm bar on stderr, with total and ETA when ``total`` is known; yields its advance."""
    with tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True) as pbar:
        yield Advance(pbar)
