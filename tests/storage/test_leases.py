"""Leases with overlap on both databases: priority order, slots, expiry, never twice, races."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from storage import leases
from storage.db import session_scope
from storage.models import Galaxy, Ingest, Lease, QueueItem, Survey, Task, User
from storage.queues import QueueEntry, replace_pending

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Queue:
    task_id: int
    items: list[int]  # queue item ids, in the order of the priorities given
    users: list[int]


def _queue(engine: Engine, priorities: list[float], n_users: int) -> Queue:
    with session_scope(engine) as session:
        survey = Survey(name="s")
        session.add(survey)
        session.flush()
        ingest = Ingest(survey_id=survey.id, kind="test", source="unit")
        task = Task(
            survey_id=survey.id, name="morphology", kind="classification", classes=["e", "s"]
        )
        users = [User(name=f"u{i}", role="labeler") for i in range(n_users)]
        session.add_all([ingest, task, *users])
        session.flush()
        items = []
        for i, p in enumerate(priorities):
            galaxy = Galaxy(
                survey_id=survey.id, source_id=f"g{i}", ra=0.0, dec=0.0, ingest_id=ingest.id
            )
            session.add(galaxy)
            session.flush()
            item = QueueItem(queue="label", task_id=task.id, galaxy_id=galaxy.id, priority=p)
            session.add(item)
            session.flush()
            items.append(item.id)
        return Queue(task.id, items, [u.id for u in users])


def _next(
    engine: Engine, q: Queue, user: int, *, now: datetime = T0, overlap: int = 1
) -> int | None:
    """Lease the next item for ``user`` in its own transaction; the queue item id or None."""
    with session_scope(engine) as session:
        lease = leases.lease_next(
            session, task_id=q.task_id, user_id=user, now=now, overlap=overlap
        )
        return None if lease is None else lease.queue_item_id


def _lease_id(engine: Engine, item: int, user: int) -> int:
    with session_scope(engine) as session:
        return session.scalar(
            select(Lease.id).where(Lease.queue_item_id == item, Lease.user_id == user)
        )


def _submit(engine: Engine, item: int, user: int, now: datetime = T0) -> None:
    with session_scope(engine) as session:
        leases.submit(session, _lease_id(engine, item, user), user_id=user, now=now)


def _item_state(engine: Engine, item: int) -> tuple[str, int]:
    with session_scope(engine) as session:
        row = session.get_one(QueueItem, item)
        return row.status, row.n_labels


def test_items_come_in_priority_order(engine: Engine) -> None:
    q = _queue(engine, [1.0, 3.0, 2.0], n_users=2)
    u, v = q.users
    assert [_next(engine, q, u) for _ in range(4)] == [q.items[1], q.items[2], q.items[0], None]
    assert _next(engine, q, v) is None  # every slot is held by u's open leases
    assert {_item_state(engine, i)[0] for i in q.items} == {"leased"}


def test_overlap_one_and_two(engine: Engine) -> None:
    q = _queue(engine, [2.0, 1.0], n_users=4)
    a, b = q.items
    u0, u1, u2, u3 = q.users
    assert [_next(engine, q, u, overlap=2) for u in (u0, u1, u2)] == [a, a, b]
    assert _next(engine, q, u3, overlap=2) == b
    assert _next(engine, q, u3, overlap=2) is None
    _submit(engine, a, u0)
    assert _item_state(engine, a) == ("leased", 1)
    _submit(engine, a, u1)
    assert _item_state(engine, a) == ("done", 2)


def test_overlap_one_item_is_done_after_one_answer(engine: Engine) -> None:
    q = _queue(engine, [1.0], n_users=2)
    u, v = q.users
    assert _next(engine, q, u) == q.items[0]
    _submit(engine, q.items[0], u)
    assert _item_state(engine, q.items[0]) == ("done", 1)
    assert _next(engine, q, v, overlap=2) is None  # done items are not served, whatever the overlap


def test_expiry_frees_the_slot_for_someone_else_only(engine: Engine) -> None:
    q = _queue(engine, [1.0], n_users=2)
    (item,) = q.items
    u, v = q.users
    assert _next(engine, q, u) == item
    assert _next(engine, q, v, now=T0 + timedelta(seconds=599)) is None
    later = T0 + timedelta(seconds=601)
    with pytest.raises(leases.LeaseError, match=r"lease \d+ expired at"):
        _submit(engine, item, u, now=later)
    assert _next(engine, q, u, now=later) is None  # u had it once: never again
    assert _next(engine, q, v, now=later) == item
    with session_scope(engine) as session:
        assert leases.expire_stale(session, user_id=u, now=later) == 1
        assert leases.slots_held(session, item, now=later) == 1  # v's


def test_release_frees_the_slot(engine: Engine) -> None:
    q = _queue(engine, [1.0], n_users=2)
    (item,) = q.items
    u, v = q.users
    assert _next(engine, q, u) == item
    with session_scope(engine) as session:
        leases.release(session, _lease_id(engine, item, u), user_id=u, now=T0)
    assert _next(engine, q, u) is None
    assert _next(engine, q, v) == item
    with pytest.raises(leases.LeaseError, match="is already released"), session_scope(engine) as s:
        leases.submit(s, _lease_id(engine, item, u), user_id=u, now=T0)


def test_only_the_holder_closes_a_lease(engine: Engine) -> None:
    q = _queue(engine, [1.0], n_users=2)
    (item,) = q.items
    u, v = q.users
    _next(engine, q, u)
    lease_id = _lease_id(engine, item, u)
    with pytest.raises(PermissionError, match=f"lease {lease_id} belongs to user {u}"):
        _submit_as(engine, lease_id, v)
    with pytest.raises(leases.LeaseError, match="lease 999999 does not exist"):
        _submit_as(engine, 999999, u)


def _submit_as(engine: Engine, lease_id: int, user: int) -> None:
    with session_scope(engine) as session:
        leases.submit(session, lease_id, user_id=user, now=T0)


def test_never_the_same_galaxy_twice(engine: Engine) -> None:
    q = _queue(engine, [5.0, 4.0, 3.0, 2.0, 1.0], n_users=1)
    (u,) = q.users
    got = []
    for k in range(7):
        now = T0 + timedelta(hours=k)  # every earlier lease has expired by now
        item = _next(engine, q, u, now=now, overlap=3)
        if item is not None and k % 2:  # answered or walked away from: never shown again
            _submit(engine, item, u, now=now)
        got.append(item)
    assert got == [*q.items, None, None]


def test_queue_rebuild_keeps_items_with_leases(engine: Engine) -> None:
    q = _queue(engine, [2.0, 1.0], n_users=1)
    (u,) = q.users
    _next(engine, q, u)
    with session_scope(engine) as session:
        galaxies = [session.get_one(QueueItem, i).galaxy_id for i in q.items]
        entries = [QueueEntry(galaxy_id=g, priority=1.0, acquisition="x") for g in galaxies]
        assert (
            replace_pending(
                session, queue="label", task_id=q.task_id, model_version_id=None, entries=entries
            )
            == 1
        )
    assert _item_state(engine, q.items[0]) == ("leased", 0)


def test_bad_policy_is_refused(engine: Engine) -> None:
    q = _queue(engine, [1.0], n_users=1)
    with pytest.raises(ValueError, match="overlap must be at least 1"):
        _next(engine, q, q.users[0], overlap=0)


@pytest.mark.parametrize("overlap", [1, 2])
def test_racing_labelers_never_exceed_the_overlap(engine: Engine, overlap: int) -> None:
    q = _queue(engine, [5.0, 4.0, 3.0, 2.0, 1.0], n_users=8)
    got: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(q.users))

    def labeler(user: int) -> None:
        try:
            barrier.wait()
            while (item := _next(engine, q, user, overlap=overlap)) is not None:
                got.append((item, user))
        except BaseException as err:  # surfaced below: a thread's failure must fail the test
            errors.append(err)

    threads = [threading.Thread(target=labeler, args=(u,)) for u in q.users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Under SKIP LOCKED a labeler may stop early while others hold rows; a calm pass fills up.
    for user in q.users:
        while (item := _next(engine, q, user, overlap=overlap)) is not None:
            got.append((item, user))
    assert len(set(got)) == len(got)  # no user twice on an item
    assert Counter(item for item, _ in got) == dict.fromkeys(q.items, overlap)
    with session_scope(engine) as session:
        rows = session.execute(select(Lease.queue_item_id, Lease.user_id)).all()
    assert sorted(map(tuple, rows)) == sorted(got)
