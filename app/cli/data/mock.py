"""``galactive mock``: simulate a survey and ingest it through the real ingest path."""

from __future__ import annotations

import typer
from sqlalchemy import Engine, select

from app.cli.common import bar, database, ready, reported_errors
from app.services.data.arrays import NETWORK_IMAGES
from storage.db import session_scope
from storage.ingest.writer import ingest
from storage.models import Survey, User


def mock(
    ctx: typer.Context,
    n: int = typer.Option(2000, "--n", min=1, help="Number of galaxies."),
    seed: int = typer.Option(1, "--seed", help="Random seed; the same seed gives the same survey."),
    spectra_fraction: float = typer.Option(
        0.1, "--spectra-fraction", min=0.0, max=1.0, help="Fraction of galaxies with a spectrum."
    ),
    expert_labels: float = typer.Option(
        0.0,
        "--expert-labels",
        min=0.0,
        max=1.0,
        help="Fraction of galaxies with a visible expert morphology label (existing labels).",
    ),
    survey: str = typer.Option("mock", "--survey", help="Survey name to create."),
    workers: int = typer.Option(2, "--workers", min=1, help="Processes drawing images."),
    skip_existing: bool = typer.Option(
        False, "--skip-existing", help="Do nothing if the survey already exists (for scripts)."
    ),
) -> None:
    """Generate a physically grounded mock survey (GalSim images, kcorrect spectra).

    Images: 5 bands (ugriz), 64x64 at 0.396"/px; spectra for a fraction of galaxies on
    an SDSS-like grid; truth for morphology, redshift and SFR; a simulated expert.
    """
    resolved = ready(ctx)
    with database(resolved) as engine:
        if skip_existing and _exists(engine, survey):
            typer.echo(f"survey {survey!r} already exists; skipping")
            return
        from app.mock.survey import EXPERT, generate_survey  # GalSim loads only when simulating

        if expert_labels > 0:
            _ensure_user(engine, EXPERT)
        bundles = generate_survey(
            n,
            seed=seed,
            spectra_fraction=spectra_fraction,
            workers=workers,
            expert_fraction=expert_labels,
        )
        with reported_errors(), bar(n, f"mock survey {survey!r}") as advance:
            summary = ingest(
                engine,
                resolved.store(),
                survey,
                bundles,
                kind="mock",
                source=f"galactive mock --n {n} --seed {seed} --spectra-fraction "
                f"{spectra_fraction} --expert-labels {expert_labels}",
                progress=advance,
                prepare_images=NETWORK_IMAGES,
            )
    typer.echo(f"survey {summary.survey!r}: ingest {summary.ingest_id}, {summary.counts}")


def _exists(engine: Engine, name: str) -> bool:
    with session_scope(engine) as session:
        return session.scalar(select(Survey.id).where(Survey.name == name)) is not None


def _ensure_user(engine: Engine, name: str) -> None:
    """The simulated expert as a labeler without a password (it labels, it cannot sign in)."""
    with session_scope(engine) as session:
        if session.scalar(select(User.id).where(User.name == name)) is None:
            session.add(User(name=name, role="labeler"))
