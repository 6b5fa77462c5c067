"""What a survey holds: galaxies, modalities, and truth and labels per task."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.labels import current_labels_query
from storage.models import (
    Galaxy,
    ImageCutout,
    Label,
    ModelVersion,
    Photometry,
    Spectrum,
    Survey,
    Task,
    Truth,
)


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
        "models": _models(session, survey.id),
    }


def decision_words(metrics: dict[str, Any] | None) -> tuple[bool | None, str | None, int | None]:
    """(healthy, "eligible: why" or "rejected: why" for activation, validation n) from a
    version's metrics; Nones for versions recorded before fits were checked."""
    m = metrics or {}
    health, activation = m.get("health"), m.get("activation")
    healthy = None if health is None else bool(health["ok"])
    if activation is None:
        return healthy, None, None
    verb = "eligible" if activation["activate"] else "rejected"
    return healthy, f"{verb}: {activation['reason']}", activation.get("n_validation")


def _models(session: Session, survey_id: int) -> dict[str, Any]:
    """The active version, and the newest version with why it was or was not activated."""
    active = session.scalar(
        select(ModelVersion.name).where(
            ModelVersion.survey_id == survey_id, ModelVersion.is_active.is_(True)
        )
    )
    newest = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.survey_id == survey_id, ModelVersion.status == "ready")
        .order_by(ModelVersion.id.desc())
        .limit(1)
    )
    out: dict[str, Any] = {"active": active, "newest": None}
    if newest is not None:
        healthy, decision, n = decision_words(newest.metrics)
        out["newest"] = {"name": newest.name, "healthy": healthy, "decision": decision,
                         "n_validation": n}  # fmt: skip
    return out


def _current_labels(session: Session, task_id: int) -> dict[str, int]:
    """Current answers per source: labels no later label supersedes."""
    current = current_labels_query(task_id).where(Label.status == "answer").subquery()
    stmt = select(current.c.source, func.count()).group_by(current.c.source)
    return {source: int(n) for source, n in session.execute(stmt).all()}
