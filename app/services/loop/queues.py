"""Switch the active model version and rebuild its expert-label queues, in one transaction.

The label queue of a classification task holds ``size`` galaxies without an answer, picked
from the version's stored BALD scores by power sampling (stochastic, so a few outliers with
huge scores cannot fill the queue), plus a random control share that keeps an unbiased view
of how the model does; queue order is pick order. Galaxies the artifact screen flagged are
skipped only where ``strategy.screens`` says the task is screened (off by default: in
docs/experiments.md screening lost to random). This is ``choose_batch``'s default strategy,
run on stored scores so the pool's posterior never has to sit in memory at once.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.data.targets import task_configs
from app.services.loop.scoring import ACQUISITION, SCREEN
from app.services.loop.strategy import CONTROL_FRACTION, screens
from app.services.models.versions import switch_active
from bayes.acquisition import power_sample, with_control
from storage.labels import current_labels_query
from storage.models import Label, Score, Task
from storage.queues import QueueEntry, replace_pending

QUEUE_SIZE = 200
CONTROL = "random_control"


def label_queue_entries(
    galaxy_id: np.ndarray,
    scores: np.ndarray,
    size: int,
    *,
    rng: np.random.Generator,
    flagged: np.ndarray | None = None,
    control_fraction: float = CONTROL_FRACTION,
    beta: float = 1.0,
) -> list[QueueEntry]:
    """``size`` entries by the rule :func:`app.services.loop.strategy.choose_batch` applies
    (:func:`bayes.acquisition.with_control`) with power_bald on stored scores:
    ``control_fraction`` uniformly at random among all, the rest power-sampled by score among
    galaxies the artifact screen did not flag (flagged ones only when too few are left)."""

    def pick(candidates: np.ndarray, m: int, control: np.ndarray) -> np.ndarray:
        pool = np.flatnonzero(candidates)
        return pool[power_sample(scores[pool], m, beta=beta, rng=rng)]

    picked, control = with_control(
        len(galaxy_id), size, pick, rng=rng, control_fraction=control_fraction, flagged=flagged
    )
    ranked = [(int(i), "power_bald") for i in picked]
    for i in control:  # controls at random slots, not all at the end
        ranked.insert(int(rng.integers(0, len(ranked) + 1)), (int(i), CONTROL))
    return [
        QueueEntry(
            galaxy_id=int(galaxy_id[i]),
            priority=float(len(ranked) - rank),
            acquisition=kind,
            acquisition_score=float(scores[i]),
        )
        for rank, (i, kind) in enumerate(ranked)
    ]


def activate(
    session: Session, version_id: int, *, queue_size: int = QUEUE_SIZE, seed: int = 0
) -> dict[str, int]:
    """Make ``version_id`` its survey's only active version and rebuild its label queues.

    Runs in the caller's transaction; returns {task: queued galaxies}.
    """
    version = switch_active(session, version_id)
    queued = {}
    rng = np.random.default_rng([seed, version_id])
    configs = {t.name: t for t in task_configs(session, version.survey_id)}
    tasks = session.scalars(
        select(Task).where(Task.survey_id == version.survey_id, Task.kind == "classification")
    )
    for task in tasks:
        answered = current_labels_query(task.id).where(Label.status == "answer").subquery()
        mine = (Score.model_version_id == version_id) & (Score.task_id == task.id)
        rows = session.execute(
            select(Score.galaxy_id, Score.value)
            .where(mine, Score.acquisition == ACQUISITION)
            .where(Score.galaxy_id.not_in(select(answered.c.galaxy_id)))
            .order_by(Score.galaxy_id)
        ).all()
        if not rows:
            continue
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        values = np.array([r[1] for r in rows], dtype=np.float64)
        flagged = None
        if screens(configs[task.name]):
            screened = session.scalars(
                select(Score.galaxy_id).where(mine, Score.acquisition == SCREEN)
            )
            flagged = np.isin(ids, np.fromiter(screened, np.int64))
        entries = label_queue_entries(ids, values, queue_size, rng=rng, flagged=flagged)
        queued[task.name] = replace_pending(
            session, queue="label", task_id=task.id, model_version_id=version_id, entries=entries
        )
    return queued
