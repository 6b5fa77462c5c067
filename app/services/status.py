"""What a survey holds: galaxies, modalities, and truth and labels per task."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.labels import current_labels_query
from storage.models import Galaxy, ImageCutout, Label, Photometry, Spectrum, Survey, Task, Truth


def survey_status(session: Session) -> list[dict[str, Any]]:
    """One summary dict per survey, ready for JSON."""
    return [_one(session, survey) for survey in session.scalars(select(Survey).order_by(Survey.id))]


def _count(session: Session, model: type, survey_id: int) -> int:
    """Galaxies of the survey with at least one row of ``model``."""
    stmt = (
        select(func.count(func.distinct(model.galaxy_id)))
        .join(Galaxy, Galaxy.id == model.galaxy_id)
        .where(Galaxy.survey_id == survey_id)
    )
    return int(session.scalar(stmt) or 0)


def _one(session: Session, survey: Survey) -> dict[str, Any]:
    n_galaxies = session.scalar(select(func.count()).where(Galaxy.survey_id == survey.id))
    # The dataset name encodes bands and shape ("images/u-g-r-i-z_64x64"); JSON columns
    # cannot be grouped on PostgreSQL.
    layouts = session.execute(
        select(ImageCutout.dataset, func.count())
        .join(Galaxy, Galaxy.id == ImageCutout.galaxy_id)
        .where(Galaxy.survey_id == survey.id)
        .group_by(ImageCutout.dataset)
    ).all()
    tasks = {}
    for task in session.scalars(select(Task).where(Task.survey_id == survey.id).order_by(Task.id)):
        truth = dict(
            session.execute(
                select(Truth.kind, func.count())
                .where(Truth.task_id == task.id)
                .group_by(Truth.kind)
            ).all()
        )
        tasks[task.name] = {
            "kind": task.kind,
            "classes": task.classes,
            "target": task.target,
            "truth": truth.get("truth", 0),
            "simulated_expert": truth.get("simulated_expert", 0),
            "labels": _current_labels(session, task.id),
        }
    return {
        "survey": survey.name,
        "galaxies": int(n_galaxies or 0),
        "modalities": {
            "images": _count(session, ImageCutout, survey.id),
            "image_layouts": {d.removeprefix("images/"): int(n) for d, n in layouts},
            "spectra": _count(session, Spectrum, survey.id),
            "photometry": _count(session, Photometry, survey.id),
        },
        "tasks": tasks,
    }


def _current_labels(session: Session, task_id: int) -> dict[str, int]:
    """Current answers per source: labels no later label supersedes."""
    current = current_labels_query(task_id).where(Label.status == "answer").subquery()
    stmt = select(current.c.source, func.count()).group_by(current.c.source)
    return {source: int(n) for source, n in session.execute(stmt).all()}
