"""The ``galactive`` command: one Typer app, a module per command in folders that mirror the
services: data (mock, ingest, status), models (train, score, report, experiment), loop (worker
and retrain, followup) and admin (init and db, user, serve)."""

from __future__ import annotations

import typer

from app.cli.admin import db, serve, user
from app.cli.common import State
from app.cli.data import ingest, mock, status
from app.cli.loop import cold_start, followup, worker
from app.cli.models import experiment, pretrain, report, score, train
from app.services.compute import keep_freed_memory

app = typer.Typer(
    name="galactive",
    help="Bayesian active learning for galaxy surveys: ingest, mock surveys, labels, models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def global_options(
    ctx: typer.Context,
    db_url: str | None = typer.Option(
        None,
        "--db",
        envvar="GALACTIVE_DB",
        help="Database URL (default: SQLite under GALACTIVE_HOME). "
        "PostgreSQL: postgresql://user@host:5432/dbname",
    ),
    home: str | None = typer.Option(
        None,
        "--home",
        envvar="GALACTIVE_HOME",
        help="Data directory for the SQLite database and array store (default ./galactive-data).",
    ),
) -> None:
    """Galactive: decide which galaxies deserve an expert's label or a telescope's time."""
    ctx.obj = State(db_url=db_url, home=home)


app.command("init")(db.init)
app.add_typer(db.app, name="db")
app.command("check-store")(db.check_store)
app.command("mock")(mock.mock)
app.add_typer(ingest.app, name="ingest")
app.command("status")(status.status)
app.command("train")(train.train)
app.command("pretrain")(pretrain.pretrain)
app.command("experiment")(experiment.experiment)
app.command("experiment-merge")(experiment.merge)
app.command("worker")(worker.worker)
app.command("retrain")(worker.retrain)
app.command("cold-start")(cold_start.cold_start)
app.command("score")(score.score)
app.add_typer(followup.app, name="followup")
app.add_typer(user.app, name="user")
app.command("serve")(serve.serve)
app.command("report")(report.report)


def main() -> None:
    """Console-script entry point."""
    keep_freed_memory()  # trunk passes reuse their buffers (app/services/compute.py)
    app()
