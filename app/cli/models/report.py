"""``galactive report``: the uncertainty report of a survey's active model as one HTML file."""

from __future__ import annotations

from pathlib import Path

import typer

from app.cli.common import fail, ready
from app.cli.models.train import set_threads
from app.services.reports.html_report import build_html


def report(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="HTML file to write (images inline)."),
    survey: str = typer.Option("mock", "--survey", help="Survey to report on."),
    version: int | None = typer.Option(
        None, "--version", help="Model version id (default: the survey's active one)."
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="Torch CPU threads (default: the cores no other process is busy on).",
    ),
) -> None:
    """Reliability and ECE, PIT and interval coverage, confusion matrix, learning curves,
    embedding map and labeler agreement, in one self-contained HTML file."""
    set_threads(threads)
    settings = ready(ctx)
    try:
        page = build_html(settings, survey, version_id=version)
    except ValueError as err:
        fail(str(err))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    typer.echo(f"report on {survey} written to {out} ({len(page) / 1024:.0f} KiB)")
