"""The expert-label and follow-up queues: replace a queue's pending items, read them in order.

A rebuild runs inside the caller's transaction, so the switch to a new model version and the
queue it ranks commit together: nobody ever sees a half-built queue. Items a labeler holds
(``leased``) and galaxies already done stay as they are; only ``pending`` items are replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import QueueItem

QUEUES = ("label", "followup")


@dataclass(frozen=True)
class QueueEntry:
    """One galaxy to put in a queue; higher ``priority`` is served first."""

    galaxy_id: int
    priority: float
    acquisition: str
    acquisition_score: float | None = None
    exposure_s: float | None = None
    expected_gain: float | None = None


def replace_pending(
    session: Session,
    *,
    queue: str,
    task_id: int,
    model_version_id: int | None,
    entries: Sequence[QueueEntry],
) -> int:
    """Drop the pending items of (queue, task) and add ``entries`` as pending; returns how many.

    Galaxies that are leased or done in this queue are skipped, as are repeated galaxies
    (the first entry wins). Flushes but does not commit.
    """
    if queue not in QUEUES:
        raise ValueError(f"queue must be one of {QUEUES}, got {queue!r}")
    session.execute(
        delete(QueueItem).where(
            QueueItem.queue == queue, QueueItem.task_id == task_id, QueueItem.status == "pending"
        )
    )
    busy = set(
        session.scalars(
            select(QueueItem.galaxy_id).where(
                QueueItem.queue == queue, QueueItem.task_id == task_id
            )
        )
    )
    rows = []
    for e in entries:
        if e.galaxy_id in busy:
            continue
        busy.add(e.galaxy_id)
        rows.append(
            {
                "queue": queue,
                "task_id": task_id,
                "galaxy_id": int(e.galaxy_id),
                "model_version_id": model_version_id,
                "priority": float(e.priority),
                "acquisition": e.acquisition,
                "acquisition_score": _opt(e.acquisition_score),
                "exposure_s": _opt(e.exposure_s),
                "expected_gain": _opt(e.expected_gain),
                "status": "pending",
                "n_labels": 0,
            }
        )
    if rows:
        session.execute(QueueItem.__table__.insert(), rows)
    session.flush()
    return len(rows)


def pending_items(
    session: Session, *, queue: str, task_id: int, limit: int | None = None
) -> list[QueueItem]:
    """Pending items of (queue, task), highest priority first (ties: lowest id)."""
    stmt = (
        select(QueueItem)
        .where(QueueItem.queue == queue, QueueItem.task_id == task_id)
        .where(QueueItem.status == "pending")
        .order_by(QueueItem.priority.desc(), QueueItem.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _opt(value: float | None) -> float | None:
    return None if value is None else float(value)
