"""Leases on the label queue: which labeler sees which galaxy, with overlap, under concurrency.

An item may be leased to ``overlap`` labelers. A lease holds one of those slots while it is
``open`` and unexpired, and for good once ``submitted``; ``released`` and expired leases free
theirs. Nobody leases an item twice (a unique row per item and user).

Concurrency: ``lease_next`` must never hand out a slot beyond the overlap, on either database.
On PostgreSQL the candidate row is locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` (a
second labeler skips to the next item instead of waiting) and its slots are recounted by a new
statement once the lock is held, which under READ COMMITTED sees every lease committed before
it. On SQLite writers are serialised: ``begin_write`` takes the write lock (``BEGIN
IMMEDIATE``) before anything is read. The item's ``n_labels`` changes by an atomic
``UPDATE ... SET n_labels = n_labels + 1``, never by read-then-write.

Queue items keep a summary of their leases: ``pending`` until first leased, then ``leased``
(so queue rebuilds, which replace pending items only, keep the lease history and the
never-twice guarantee), ``done`` once ``n_labels`` submissions reach the overlap.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Lease, QueueItem

SERVABLE = ("pending", "leased")


class LeaseError(ValueError):
    """A lease that cannot be used as asked: unknown, expired or already closed."""


def begin_write(session: Session) -> None:
    """On SQLite, start the session's transaction with the write lock, so what it reads next
    cannot change before it writes; elsewhere (and inside a transaction already) do nothing."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def holds_slot(now: datetime) -> ColumnElement[bool]:
    """Leases that count against an item's overlap at ``now``: submitted, or open and unexpired."""
    return or_(Lease.status == "submitted", and_(Lease.status == "open", Lease.expires_at > now))


def lease_next(
    session: Session,
    *,
    task_id: int,
    user_id: int,
    now: datetime,
    lease_seconds: float = 600,
    overlap: int = 1,
) -> Lease | None:
    """Lease the highest-priority label item of the task with a free slot that this user has
    never leased; None when there is none. Flushes; commit soon (the lock is held until then)."""
    if overlap < 1:
        raise ValueError(f"overlap must be at least 1, got {overlap}")
    if lease_seconds <= 0:
        raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
    begin_write(session)
    seen: list[int] = []
    while True:
        item = session.scalars(
            _candidates(task_id=task_id, user_id=user_id, now=now, overlap=overlap)
            .where(QueueItem.id.not_in(seen))
            .limit(1)
            .with_for_update(skip_locked=True, of=QueueItem)
        ).first()
        if item is None:
            return None
        # Recount with the row locked: a lease committed since the first statement shows now.
        if session.scalar(
            _candidates(task_id=task_id, user_id=user_id, now=now, overlap=overlap)
            .with_only_columns(QueueItem.id)
            .where(QueueItem.id == item.id)
        ):
            break
        seen.append(item.id)
    lease = Lease(
        queue_item_id=item.id,
        user_id=user_id,
        expires_at=now + timedelta(seconds=lease_seconds),
        status="open",
        overlap=overlap,
    )
    session.add(lease)
    if item.status == "pending":
        item.status = "leased"
    session.flush()
    return lease


def open_leases(
    session: Session, *, task_id: int, user_id: int, now: datetime, limit: int
) -> list[Lease]:
    """This user's open, unexpired leases in the task, oldest first (an undo reopens the
    oldest, so its galaxy leads), at most ``limit``: the galaxies held in front of them."""
    return list(
        session.scalars(
            select(Lease)
            .join(QueueItem, QueueItem.id == Lease.queue_item_id)
            .where(QueueItem.task_id == task_id, QueueItem.queue == "label")
            .where(Lease.user_id == user_id, Lease.status == "open", Lease.expires_at > now)
            .order_by(Lease.id)
            .limit(limit)
        )
    )


def expire_stale(session: Session, *, user_id: int, now: datetime) -> int:
    """Mark this user's open leases past their expiry ``expired``; how many.

    Only the caller's own leases are rewritten, so labelers never wait on each other's rows;
    everyone else's stale leases already count as expired through ``holds_slot``.
    """
    return session.execute(
        update(Lease)
        .where(Lease.user_id == user_id, Lease.status == "open", Lease.expires_at <= now)
        .values(status="expired")
        .execution_options(synchronize_session=False)
    ).rowcount


def submit(session: Session, lease_id: int, *, user_id: int, now: datetime) -> Lease:
    """Close an open lease of this user as ``submitted``: its slot is filled for good, the
    item's ``n_labels`` goes up by one and the item is ``done`` once that reaches the overlap."""
    lease = _close(session, lease_id, user_id=user_id, now=now, status="submitted")
    session.execute(
        update(QueueItem)
        .where(QueueItem.id == lease.queue_item_id)
        .values(
            n_labels=QueueItem.n_labels + 1,
            status=case((QueueItem.n_labels + 1 >= lease.overlap, "done"), else_=QueueItem.status),
        )
        .execution_options(synchronize_session=False)
    )
    return lease


def release(session: Session, lease_id: int, *, user_id: int, now: datetime) -> Lease:
    """Close an open lease of this user as ``released`` (skipped or left): its slot goes to
    another labeler, and this user is not shown the galaxy again."""
    return _close(session, lease_id, user_id=user_id, now=now, status="released")


def reopen(session: Session, lease_id: int, *, now: datetime, lease_seconds: float = 600) -> bool:
    """Open a closed lease again until ``now + lease_seconds`` (an undo); whether it was.

    A submitted lease keeps its slot (the item's ``n_labels`` goes down by one and a ``done``
    item is ``leased`` again); a released or expired one is reopened only if a slot is free.
    """
    begin_write(session)
    lease = session.get(Lease, lease_id, populate_existing=True, with_for_update=True)
    if lease is None:
        raise LeaseError(f"lease {lease_id} does not exist")
    if lease.status == "open" and lease.expires_at > now:
        return True
    # Lock the item (blocking) so the slot count below cannot change before the update.
    session.execute(
        select(QueueItem.id).where(QueueItem.id == lease.queue_item_id).with_for_update()
    )
    if lease.status == "submitted":
        session.execute(
            update(QueueItem)
            .where(QueueItem.id == lease.queue_item_id)
            .values(
                n_labels=QueueItem.n_labels - 1,
                status=case((QueueItem.status == "done", "leased"), else_=QueueItem.status),
            )
            .execution_options(synchronize_session=False)
        )
    elif slots_held(session, lease.queue_item_id, now=now) >= lease.overlap:
        return False
    lease.status = "open"
    lease.expires_at = now + timedelta(seconds=lease_seconds)
    session.flush()
    return True


def slots_held(session: Session, queue_item_id: int, *, now: datetime) -> int:
    """How many leases hold a slot of this item at ``now``."""
    return session.scalar(
        select(func.count(Lease.id)).where(Lease.queue_item_id == queue_item_id, holds_slot(now))
    )


def _candidates(
    *, task_id: int, user_id: int, now: datetime, overlap: int
) -> Select[tuple[QueueItem]]:
    """Label items of the task, best first, with a free slot and never leased by this user."""
    held = (
        select(func.count(Lease.id))
        .where(Lease.queue_item_id == QueueItem.id, holds_slot(now))
        .scalar_subquery()
    )
    mine = select(Lease.id).where(Lease.queue_item_id == QueueItem.id, Lease.user_id == user_id)
    return (
        select(QueueItem)
        .where(QueueItem.queue == "label", QueueItem.task_id == task_id)
        .where(QueueItem.status.in_(SERVABLE), ~mine.exists(), held < overlap)
        .order_by(QueueItem.priority.desc(), QueueItem.id)
    )


def _close(
    session: Session,
    lease_id: int,
    *,
    user_id: int,
    now: datetime,
    status: Literal["submitted", "released"],
) -> Lease:
    """One conditional UPDATE from open to ``status``; a clear error naming the lease if not."""
    won = session.execute(
        update(Lease)
        .where(Lease.id == lease_id, Lease.user_id == user_id)
        .where(Lease.status == "open", Lease.expires_at > now)
        .values(status=status)
        .execution_options(synchronize_session=False)
    ).rowcount
    lease = session.get(Lease, lease_id, populate_existing=True)
    if won:
        return lease  # type: ignore[return-value]
    if lease is None:
        raise LeaseError(f"lease {lease_id} does not exist")
    if lease.user_id != user_id:
        raise PermissionError(f"lease {lease_id} belongs to user {lease.user_id}, not {user_id}")
    if lease.status != "open":
        raise LeaseError(f"lease {lease_id} is already {lease.status}")
    raise LeaseError(f"lease {lease_id} expired at {lease.expires_at:%Y-%m-%d %H:%M:%S} UTC")
