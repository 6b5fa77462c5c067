"""What a model learns from: a survey's tasks as ``TaskConfig`` and their targets per galaxy.

Targets come from the survey's stored truth (``Truth`` rows of kind ``truth``: a catalog's
spectroscopic redshifts, the mock's simulated values) or from the current labels (answers no
later label supersedes). Shapes follow :mod:`bayes.targets`: categorical (N,) int with -1
unknown, regression (N,) float with NaN unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.data.arrays import SurveyRefs
from bayes.config import TaskConfig
from storage.labels import current_labels_query
from storage.models import Label, Task, Truth

TargetSource = Literal["truth", "labels"]
# How reports name a target source (a real catalog's truth is measured, not simulated).
SOURCE_WORDS: dict[str, str] = {
    "truth": "truth (the survey's stored truth values: spectroscopic redshifts for a real "
    "catalog, the simulated values for the mock)",
    "labels": "current labels",
}


@dataclass(frozen=True)
class Targets:
    """Targets per task for the N galaxies of a SurveyRefs, and which labels they came from.

    values: {task: (N,)}; label_watermark: the largest label id used (None for truth);
    n_labels: the number of (galaxy, task) values known.
    """

    values: dict[str, np.ndarray]
    label_watermark: int | None
    n_labels: int


def task_configs(session: Session, survey_id: int) -> tuple[TaskConfig, ...]:
    """The survey's tasks: categorical over ``classes``, Gaussian regressions otherwise.

    A redshift is fitted in log(1 + z) (its errors scale with 1 + z); other targets as given.
    """
    tasks = session.scalars(select(Task).where(Task.survey_id == survey_id).order_by(Task.id))
    out = []
    for t in tasks:
        if t.kind == "classification":
            out.append(TaskConfig(t.name, "categorical", classes=tuple(t.classes or ())))
        else:
            transform = "log1p" if t.target == "redshift" else "identity"
            # Student-t: on real SDSS photometry a Gaussian fit kept stretching its noise scale
            # to fit photo-z outliers (70 epochs: 68% intervals covering 83%; docs/real_data.md).
            kind = "student_t" if t.target == "redshift" else "gaussian"
            out.append(TaskConfig(t.name, kind, transform=transform))
    if not out:
        raise ValueError(f"survey {survey_id} has no tasks")
    return tuple(out)


def load_targets(session: Session, refs: SurveyRefs, *, source: TargetSource) -> Targets:
    """Targets of every task for every galaxy of ``refs`` from ``source`` (truth or labels).

    With labels, a galaxy with several current answers for a task takes the latest one.
    """
    if source not in ("truth", "labels"):
        raise ValueError(f"source must be 'truth' or 'labels', got {source!r}")
    tasks = session.scalars(select(Task).where(Task.survey_id == refs.survey_id)).all()
    values: dict[str, np.ndarray] = {}
    watermark: int | None = None
    for task in tasks:
        classification = task.kind == "classification"
        if source == "truth":
            col = Truth.class_index if classification else Truth.value
            stmt = select(Truth.id, Truth.galaxy_id, col).where(
                Truth.task_id == task.id, Truth.kind == "truth"
            )
        else:
            current = current_labels_query(task.id).where(Label.status == "answer").subquery()
            col = current.c.class_index if classification else current.c.value
            stmt = select(current.c.id, current.c.galaxy_id, col)
        found = session.execute(stmt.order_by("id")).all()
        rows = np.array([r for r in found if r[2] is not None], dtype=np.float64).reshape(-1, 3)
        pos = refs.index_of(rows[:, 1].astype(np.int64))
        rows, pos = rows[pos >= 0], pos[pos >= 0]
        y = np.full(len(refs), -1 if classification else np.nan)
        y[pos] = rows[:, 2]  # ordered by id: a later answer overwrites an earlier one
        values[task.name] = y.astype(np.int64) if classification else y
        if source == "labels" and len(rows):
            watermark = max(watermark or 0, int(rows[:, 0].max()))
    return Targets(values=values, label_watermark=watermark, n_labels=count_known(values))


def count_known(values: dict[str, np.ndarray]) -> int:
    """Known (galaxy, task) values: class >= 0 or a finite number."""
    return sum(
        int(np.sum(v >= 0 if v.dtype.kind == "i" else np.isfinite(v))) for v in values.values()
    )
