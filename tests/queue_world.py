"""A label queue in a bare database: a survey of galaxy rows, a task, a version, labelers.

Shared by the labeling tests and the form fuzzing (no images: only what leasing reads).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from storage.db import session_scope
from storage.models import Galaxy, Ingest, ModelVersion, QueueItem, Survey, Task, User

CLASSES = ["elliptical", "spiral", "merger"]


@dataclass(frozen=True)
class QueueWorld:
    """Ids of what :func:`queue_world` made; galaxies in queue order (highest priority first)."""

    task_id: int
    version_id: int
    galaxies: list[int]
    users: list[int]


def queue_world(
    engine: Engine, *, n: int, users: list[str], score_step: float = 0.1, name: str = "s"
) -> QueueWorld:
    """``n`` galaxies queued for a morphology task by version v1 (acquisition score
    ``score_step * rank``), and a labeler per name in ``users``."""
    with session_scope(engine) as session:
        survey = Survey(name=name)
        session.add(survey)
        session.flush()
        ingest = Ingest(survey_id=survey.id, kind="test", source=name)
        task = Task(survey_id=survey.id, name="morphology", kind="classification", classes=CLASSES)
        version = ModelVersion(survey_id=survey.id, name="v1", status="ready")
        people = [User(name=u, role="labeler") for u in users]
        session.add_all([ingest, task, version, *people])
        session.flush()
        galaxies = [
            Galaxy(survey_id=survey.id, source_id=f"g{i}", ra=0.0, dec=0.0, ingest_id=ingest.id)
            for i in range(n)
        ]
        session.add_all(galaxies)
        session.flush()
        session.add_all(
            QueueItem(
                queue="label",
                task_id=task.id,
                galaxy_id=g.id,
                priority=float(n - i),
                model_version_id=version.id,
                acquisition="power_bald",
                acquisition_score=score_step * (i + 1),
            )
            for i, g in enumerate(galaxies)
        )
        return QueueWorld(task.id, version.id, [g.id for g in galaxies], [u.id for u in people])
