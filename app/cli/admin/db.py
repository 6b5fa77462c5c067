"""Database commands: create, migrate and inspect the schema."""

from __future__ import annotations

import typer

from app.cli.common import ready, settings
from storage import migrate
from storage.store_check import check, describe, sweep

app = typer.Typer(help="Migrate the database schema (Alembic).", no_args_is_help=True)


def init(ctx: typer.Context) -> None:
    """Create the data directory and bring the database to the newest schema."""
    resolved = settings(ctx)
    resolved.array_root.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(resolved.db_url)
    engine = resolved.engine()
    try:
        report = sweep(engine, resolved.store())
    finally:
        engine.dispose()
    if report.removed or report.missing:
        typer.echo("\n".join(describe(report, resolved.array_root)))
    typer.echo(f"ready: {resolved.db_url} (arrays in {resolved.array_root})")


def check_store(
    ctx: typer.Context,
    repair: bool = typer.Option(
        False, "--repair", help="Remove files no committed ingest names (left by a crash)."
    ),
) -> None:
    """Check the array store against the database: orphan files left by an ingest that was
    killed, and files the database names that are missing. Exit 1 if they disagree."""
    resolved = ready(ctx)
    engine = resolved.engine()
    try:
        report = check(engine, resolved.store(), repair=repair)
    finally:
        engine.dispose()
    typer.echo("\n".join(describe(report, resolved.array_root)))
    if report.missing or (report.orphans and not repair):
        raise typer.Exit(1)


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: str = typer.Argument("head", help="Target revision."),
) -> None:
    """Migrate the database up to REVISION (default: newest)."""
    migrate.upgrade(settings(ctx).db_url, revision)
    typer.echo(f"upgraded to {revision}")


@app.command("downgrade")
def downgrade(
    ctx: typer.Context,
    revision: str = typer.Argument(..., help="Target revision ('base' removes every table)."),
) -> None:
    """Migrate the database down to REVISION."""
    migrate.downgrade(settings(ctx).db_url, revision)
    typer.echo(f"downgraded to {revision}")


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the database's revision and the newest one the code knows."""
    engine = settings(ctx).engine()
    try:
        typer.echo(f"database: {migrate.current_revision(engine)}  code: {migrate.head_revision()}")
    finally:
        engine.dispose()
