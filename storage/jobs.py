"""The job table as a work queue: enqueue, claim, heartbeat, finish, and retry lost jobs.

Every state change is one conditional UPDATE (``... WHERE status = 'queued'`` or ``WHERE
worker = me``), so two workers can never both claim a job or finish another's, on SQLite and
PostgreSQL alike. A worker that dies stops heartbeating; once its heartbeat is older than
``stale_after`` seconds the job is queued again (or failed after ``max_attempts``).
Clocks: heartbeats are worker wall time (UTC), so workers on several hosts need NTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Update, and_, or_, select, update
from sqlalchemy.orm import Session

from storage.db import session_scope
from storage.models import Job

ACTIVE = ("queued", "running")


class JobLostError(RuntimeError):
    """This worker no longer owns the job (it was declared stale and handed to another)."""


def enqueue(session: Session, kind: str, params: dict[str, Any], *, max_attempts: int = 3) -> Job:
    """A queued job of ``kind``; a queued or running one with the same ``params`` is returned
    instead of a twin (keys a running job added to its params, like resume state, don't count)."""
    existing = session.scalars(
        select(Job).where(Job.kind == kind, Job.status.in_(ACTIVE)).order_by(Job.id)
    ).all()
    for job in existing:
        if all(job.params.get(k) == v for k, v in params.items()):
            return job
    job = Job(kind=kind, params=params, status="queued", max_attempts=max_attempts)
    session.add(job)
    session.flush()
    return job


def recover_stale(engine: Engine, *, stale_after: float) -> int:
    """Queue again (or fail, after max_attempts) running jobs whose worker went silent."""
    cutoff = datetime.now(UTC) - timedelta(seconds=stale_after)
    silent = and_(
        Job.status == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff)
    )
    with session_scope(engine) as session:
        retried = session.execute(
            update(Job)
            .where(silent, Job.attempts < Job.max_attempts)
            .values(status="queued", worker=None, message="retrying: worker went silent")
        ).rowcount
        session.execute(
            update(Job)
            .where(silent, Job.attempts >= Job.max_attempts)
            .values(
                status="failed",
                finished_at=datetime.now(UTC),
                error="worker went silent on the last attempt",
            )
        )
    return retried


def claim(engine: Engine, worker: str, *, kinds: tuple[str, ...] | None = None) -> int | None:
    """Claim the oldest queued job (of ``kinds``) for ``worker``; its id, or None if none."""
    with session_scope(engine) as session:
        stmt = select(Job.id).where(Job.status == "queued").order_by(Job.created_at, Job.id)
        if kinds is not None:
            stmt = stmt.where(Job.kind.in_(kinds))
        for job_id in session.scalars(stmt.limit(8)).all():
            now = datetime.now(UTC)
            won = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(
                    status="running",
                    worker=worker,
                    attempts=Job.attempts + 1,
                    heartbeat_at=now,
                    started_at=now,
                    message="claimed",
                )
            ).rowcount
            if won:
                return job_id
    return None


def heartbeat(
    engine: Engine,
    job_id: int,
    worker: str,
    *,
    progress: float | None = None,
    message: str | None = None,
    params: dict[str, Any] | None = None,
) -> None:
    """Record liveness (and progress, message, params) of an owned job; JobLostError if not."""
    values: dict[str, Any] = {"heartbeat_at": datetime.now(UTC)}
    if progress is not None:
        values["progress"] = min(max(float(progress), 0.0), 1.0)
    if message is not None:
        values["message"] = message
    if params is not None:
        values["params"] = params
    with session_scope(engine) as session:
        if not session.execute(_owned(job_id, worker).values(**values)).rowcount:
            raise JobLostError(f"job {job_id} is no longer owned by {worker}")


def finish(
    session: Session, job_id: int, worker: str, *, error: str | None = None, message: str = "done"
) -> None:
    """Mark an owned job succeeded (or failed with ``error``) in the caller's transaction."""
    values: dict[str, Any] = {"finished_at": datetime.now(UTC), "message": message}
    if error is None:
        values |= {"status": "succeeded", "progress": 1.0}
    else:
        values |= {"status": "failed", "error": error}
    if not session.execute(_owned(job_id, worker).values(**values)).rowcount:
        raise JobLostError(f"job {job_id} is no longer owned by {worker}")


def active_job(session: Session, kind: str) -> Job | None:
    """The oldest queued or running job of ``kind``, if any."""
    return session.scalars(
        select(Job).where(Job.kind == kind, Job.status.in_(ACTIVE)).order_by(Job.id).limit(1)
    ).first()


def _owned(job_id: int, worker: str) -> Update:
    return update(Job).where(Job.id == job_id, Job.worker == worker, Job.status == "running")
