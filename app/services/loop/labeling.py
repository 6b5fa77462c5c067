"""Expert labeling, server side: the next galaxy for a labeler, submit, leave and undo.

Each call is one transaction. A submission writes the label and closes its lease together,
and counts once however often it is retried (its ``idempotency_key``). ``answer`` and
``unsure`` fill one of the galaxy's overlap slots; ``skip`` (and ``leave``) hand the slot to
another labeler. Nobody is shown a galaxy twice, except through their own undo: it retracts
their latest label and reopens their lease, and ``held`` (``next_galaxy``: its first) serves a
labeler's open leases oldest first before leasing new galaxies, so the undone galaxy comes back
next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from numbers import Integral

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.faults import crash_point
from app.services.auth import storable
from storage import leases
from storage.db import session_scope
from storage.labels import current_labels_query, supersede
from storage.models import Galaxy, Label, Lease, QueueItem, Survey, Task

STATUSES = ("answer", "skip", "unsure")
LEASE_SECONDS = 600


@dataclass(frozen=True)
class Assignment:
    """A galaxy in front of a labeler: what to show, the lease to submit on, and why it was
    picked (the model version and acquisition that queued it)."""

    queue_item_id: int
    galaxy_id: int
    source_id: str
    lease_id: int
    expires_at: datetime
    model_version_id: int | None
    acquisition: str | None
    acquisition_score: float | None


def classification_tasks(session: Session) -> list[tuple[int, str, str, tuple[str, ...]]]:
    """(task id, task name, survey name, classes) of every classification task, by survey then
    name: what a labeler can choose from."""
    rows = session.execute(
        select(Task.id, Task.name, Survey.name, Task.classes)
        .join(Survey, Survey.id == Task.survey_id)
        .where(Task.kind == "classification")
        .order_by(Survey.name, Task.name)
    ).all()
    return [(r[0], r[1], r[2], tuple(r[3] or ())) for r in rows]


def newest_label_id(session: Session) -> int | None:
    """The id of the newest label of any survey (None before any): a key for cached reports."""
    return session.scalar(select(func.max(Label.id)))


def next_galaxy(
    engine: Engine,
    user_id: int,
    task_id: int,
    *,
    overlap: int = 1,
    lease_seconds: float = LEASE_SECONDS,
    now: datetime | None = None,
) -> Assignment | None:
    """The galaxy this labeler should label next in the task, leased to them; None when the
    queue has nothing left for them. The first of :func:`held`: their oldest open lease (a
    reload, an undone galaxy) before a new one, in the order the label page shows them."""
    found = held(
        engine, user_id, task_id, size=1, overlap=overlap, lease_seconds=lease_seconds, now=now
    )
    return found[0] if found else None


def held(
    engine: Engine,
    user_id: int,
    task_id: int,
    *,
    size: int,
    overlap: int = 1,
    lease_seconds: float = LEASE_SECONDS,
    now: datetime | None = None,
) -> list[Assignment]:
    """Up to ``size`` galaxies leased to this labeler in the task, in the order to show them:
    their open leases oldest first (an undone galaxy leads), topped up from the queue. The
    page draws the next ones before they are asked for, so a fast labeler never waits."""
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    now = now or datetime.now(UTC)
    with session_scope(engine) as session:
        leases.begin_write(session)
        leases.expire_stale(session, user_id=user_id, now=now)
        found = leases.open_leases(session, task_id=task_id, user_id=user_id, now=now, limit=size)
        while len(found) < size:
            lease = leases.lease_next(
                session,
                task_id=task_id,
                user_id=user_id,
                now=now,
                lease_seconds=lease_seconds,
                overlap=overlap,
            )
            if lease is None:
                break
            found.append(lease)
        return [_assignment(session, lease) for lease in found]


def _assignment(session: Session, lease: Lease) -> Assignment:
    item = session.get_one(QueueItem, lease.queue_item_id)
    galaxy = session.get_one(Galaxy, item.galaxy_id)
    return Assignment(
        queue_item_id=item.id,
        galaxy_id=galaxy.id,
        source_id=galaxy.source_id,
        lease_id=lease.id,
        expires_at=lease.expires_at,
        model_version_id=item.model_version_id,
        acquisition=item.acquisition,
        acquisition_score=item.acquisition_score,
    )


def submit(
    engine: Engine,
    user_id: int,
    lease_id: int,
    *,
    status: str,
    idempotency_key: str,
    class_index: int | None = None,
    comment: str | None = None,
    now: datetime | None = None,
) -> int:
    """Record this labeler's label for their leased galaxy and close the lease; the label id.

    A retry with the same ``idempotency_key`` returns the first label's id and writes
    nothing. PermissionError for another user's lease, ``leases.LeaseError`` (a ValueError)
    for an unknown, expired or closed one, ValueError naming the field for bad input.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if not idempotency_key or len(idempotency_key) > 64 or not storable(idempotency_key):
        raise ValueError(
            f"idempotency_key must be 1 to 64 characters without NUL, got {idempotency_key!r}"
        )
    if comment is not None and not storable(comment):
        # PostgreSQL text columns refuse NUL: say so before the database does.
        raise ValueError("comment must be text without NUL characters or lone surrogates")
    now = now or datetime.now(UTC)
    try:
        with session_scope(engine) as session:
            leases.begin_write(session)
            found = _by_key(session, idempotency_key, user_id)
            if found is not None:
                return found
            try:
                if status == "skip":
                    lease = leases.release(session, lease_id, user_id=user_id, now=now)
                else:
                    lease = leases.submit(session, lease_id, user_id=user_id, now=now)
            except leases.LeaseError:
                # A twin of this retry closed the lease while we waited for its row lock.
                found = _by_key(session, idempotency_key, user_id)
                if found is not None:
                    return found
                raise
            label_id = _write_label(
                session, lease, user_id, status, class_index, comment, idempotency_key
            )
            crash_point("submit")  # tests kill the process here, before the commit
            return label_id
    except IntegrityError:
        # A twin inserted the same key first; it committed, so its label is the answer.
        with session_scope(engine) as session:
            found = _by_key(session, idempotency_key, user_id)
        if found is None:
            raise
        return found


def leave(engine: Engine, user_id: int, lease_id: int, *, now: datetime | None = None) -> None:
    """Give a leased galaxy back without a label: its slot goes to another labeler, and this
    one is not shown it again."""
    with session_scope(engine) as session:
        leases.begin_write(session)
        leases.release(session, lease_id, user_id=user_id, now=now or datetime.now(UTC))


def undo_last(
    engine: Engine,
    user_id: int,
    task_id: int,
    *,
    lease_seconds: float = LEASE_SECONDS,
    now: datetime | None = None,
) -> int | None:
    """Retract this labeler's latest current label in the task and put its galaxy back in
    front of them (their lease reopens); the retraction's label id, or None if nothing to undo.

    Calling it again walks further back. An undone skip gets its galaxy back only while the
    galaxy still has a free slot; the retraction stands either way.
    """
    now = now or datetime.now(UTC)
    with session_scope(engine) as session:
        leases.begin_write(session)
        last = session.scalars(
            current_labels_query(task_id)
            .where(Label.user_id == user_id, Label.status != "retracted")
            .order_by(Label.id.desc())
            .limit(1)
        ).first()
        if last is None:
            return None
        retraction = supersede(session, last, status="retracted", class_index=None, value=None)
        lease_id = session.scalar(
            select(Lease.id)
            .join(QueueItem, QueueItem.id == Lease.queue_item_id)
            .where(Lease.user_id == user_id, QueueItem.queue == "label")
            .where(QueueItem.task_id == task_id, QueueItem.galaxy_id == last.galaxy_id)
        )
        if lease_id is not None:
            leases.reopen(session, lease_id, now=now, lease_seconds=lease_seconds)
        return retraction.id


def _write_label(
    session: Session,
    lease: Lease,
    user_id: int,
    status: str,
    class_index: int | None,
    comment: str | None,
    idempotency_key: str,
) -> int:
    """The label row for a closed lease; it supersedes this user's current label of the galaxy
    (a retraction after an undo), so each labeler has one current label per galaxy."""
    item = session.get_one(QueueItem, lease.queue_item_id)
    task = session.get_one(Task, item.task_id)
    class_index = _checked_class(task, status, class_index)
    previous = session.scalar(
        current_labels_query(item.task_id)
        .with_only_columns(Label.id)
        .where(Label.user_id == user_id, Label.galaxy_id == item.galaxy_id)
        .order_by(Label.id.desc())
        .limit(1)
    )
    label = Label(
        task_id=item.task_id,
        galaxy_id=item.galaxy_id,
        source="expert",
        status=status,
        class_index=class_index,
        comment=comment,
        user_id=user_id,
        supersedes_id=previous,
        model_version_id=item.model_version_id,
        acquisition_score=item.acquisition_score,
        idempotency_key=idempotency_key,
    )
    session.add(label)
    session.flush()
    return label.id


def _checked_class(task: Task, status: str, class_index: int | None) -> int | None:
    """``class_index`` as an int in range for the task's classes; required for an answer,
    optional for unsure, refused for a skip."""
    if task.kind != "classification":
        raise ValueError(f"task {task.name!r} is a {task.kind} task; expert labels need classes")
    if class_index is None:
        if status == "answer":
            raise ValueError(f"class_index is required for an answer in task {task.name!r}")
        return None
    if status == "skip":
        raise ValueError(f"class_index must be None for a skip, got {class_index!r}")
    classes = task.classes or []
    integral = isinstance(class_index, Integral) and not isinstance(class_index, bool)
    if not integral or not 0 <= int(class_index) < len(classes):
        raise ValueError(
            f"class_index must be an integer in 0..{len(classes) - 1} for task {task.name!r} "
            f"({', '.join(classes)}), got {class_index!r}"
        )
    return int(class_index)


def _by_key(session: Session, key: str, user_id: int) -> int | None:
    """The id of the label already written under ``key``; ValueError if another user's."""
    row = session.execute(
        select(Label.id, Label.user_id).where(Label.idempotency_key == key)
    ).first()
    if row is None:
        return None
    if row.user_id != user_id:
        raise ValueError(f"idempotency_key {key!r} was already used by another user")
    return row.id
