"""``galactive status``: what the database holds."""

from __future__ import annotations

import json

import typer

from app.cli.common import ready
from app.services.loop.status import survey_status
from storage.db import session_scope


def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a summary."),
) -> None:
    """Galaxies, modalities, and truth and labels per task, for every survey."""
    engine = ready(ctx).engine()
    with session_scope(engine) as session:
        surveys = survey_status(session)
    engine.dispose()
    if as_json:
        typer.echo(json.dumps({"surveys": surveys}, indent=2))
        return
    if not surveys:
        typer.echo("no surveys yet: try `galactive mock --n 2000 --seed 1`")
    for s in surveys:
        m = s["modalities"]
        typer.echo(
            f"{s['survey']}: {s['galaxies']} galaxies; images {m['images']}, "
            f"spectra {m['spectra']}, photometry {m['photometry']}"
        )
        for name, t in s["tasks"].items():
            labels = ", ".join(f"{k} {v}" for k, v in t["labels"].items()) or "none"
            typer.echo(f"  {name} ({t['kind']}): truth {t['truth']}, labels: {labels}")
        models, newest = s["models"], s["models"]["newest"]
        if newest is not None:
            typer.echo(f"  active model: {models['active'] or 'none'}")
            if newest["decision"] is not None:
                typer.echo(f"  newest model {newest['name']}: {newest['decision']} "
                           f"(validation n={newest['n_validation']})")  # fmt: skip
