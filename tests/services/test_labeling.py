"""Expert labeling on both databases: provenance, idempotent submits, expiry, undo, overlap."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from app.services.loop import labeling
from storage import leases
from storage.db import session_scope
from storage.labels import current_labels_query
from storage.models import (
    Label,
    Lease,
    QueueItem,
)
from tests.queue_world import QueueWorld, queue_world

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


World = QueueWorld


def _world(engine: Engine, n: int = 3, n_users: int = 2) -> World:
    return queue_world(engine, n=n, users=[f"u{i}" for i in range(n_users)])


def _labels(engine: Engine) -> list[Label]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Label).order_by(Label.id)))


def test_submit_records_who_and_why(engine: Engine) -> None:
    w = _world(engine)
    u = w.users[0]
    a = labeling.next_galaxy(engine, u, w.task_id, now=T0)
    assert a is not None and (a.galaxy_id, a.source_id) == (w.galaxies[0], "g0")
    assert (a.model_version_id, a.acquisition, a.acquisition_score) == (
        w.version_id,
        "power_bald",
        0.1,
    )
    assert a.expires_at == T0 + timedelta(seconds=labeling.LEASE_SECONDS)
    label_id = labeling.submit(
        engine,
        u,
        a.lease_id,
        status="answer",
        class_index=1,
        comment="two arms",
        idempotency_key="k1",
        now=T0,
    )
    (label,) = _labels(engine)
    assert label.id == label_id
    assert (label.source, label.status, label.class_index, label.comment) == (
        "expert",
        "answer",
        1,
        "two arms",
    )
    assert (label.user_id, label.galaxy_id, label.task_id) == (u, a.galaxy_id, w.task_id)
    assert (label.model_version_id, label.acquisition_score) == (w.version_id, 0.1)
    assert label.idempotency_key == "k1"
    with session_scope(engine) as session:
        assert session.get_one(Lease, a.lease_id).status == "submitted"
        item = session.get_one(QueueItem, a.queue_item_id)
        assert (item.status, item.n_labels) == ("done", 1)
    b = labeling.next_galaxy(engine, u, w.task_id, now=T0)
    assert b is not None and b.galaxy_id == w.galaxies[1]


def test_a_reload_resumes_the_open_lease(engine: Engine) -> None:
    w = _world(engine)
    first = labeling.next_galaxy(engine, w.users[0], w.task_id, now=T0)
    again = labeling.next_galaxy(engine, w.users[0], w.task_id, now=T0 + timedelta(seconds=5))
    assert again == first


def test_the_next_galaxy_is_the_first_the_page_holds(engine: Engine) -> None:
    w = _world(engine, n=4)
    u = w.users[0]
    shown = labeling.held(engine, u, w.task_id, size=3, now=T0)
    assert [a.galaxy_id for a in shown] == w.galaxies[:3]
    later = T0 + timedelta(seconds=5)
    assert labeling.next_galaxy(engine, u, w.task_id, now=later) == shown[0]
    labeling.submit(engine, u, shown[0].lease_id, status="answer", class_index=0,
                    idempotency_key="k", now=later)  # fmt: skip
    assert labeling.next_galaxy(engine, u, w.task_id, now=later) == shown[1]


def test_a_retried_submission_counts_once(engine: Engine) -> None:
    w = _world(engine)
    u = w.users[0]
    a = labeling.next_galaxy(engine, u, w.task_id, now=T0)
    assert a is not None
    kw = {"status": "answer", "class_index": 2, "idempotency_key": "same", "now": T0}
    first = labeling.submit(engine, u, a.lease_id, **kw)
    assert labeling.submit(engine, u, a.lease_id, **kw) == first
    assert len(_labels(engine)) == 1
    with pytest.raises(ValueError, match="idempotency_key 'same' was already used by another"):
        labeling.submit(engine, w.users[1], a.lease_id, **kw)


def test_concurrent_retries_write_one_label(engine: Engine) -> None:
    w = _world(engine)
    u = w.users[0]
    a = labeling.next_galaxy(engine, u, w.task_id, now=T0)
    assert a is not None
    got: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def retry() -> None:
        try:
            barrier.wait()
            got.append(
                labeling.submit(
                    engine,
                    u,
                    a.lease_id,
                    status="answer",
                    class_index=0,
                    idempotency_key="race",
                    now=T0,
                )
            )
        except BaseException as err:  # surfaced below: a thread's failure must fail the test
            errors.append(err)

    threads = [threading.Thread(target=retry) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(got) == 6 and len(set(got)) == 1
    assert [label.id for label in _labels(engine)] == got[:1]


def test_a_key_reused_on_two_leases_at_once_writes_one_label(engine: Engine) -> None:
    w = _world(engine)
    u = w.users[0]
    lease_ids = []
    for _ in range(2):  # two open leases of one user, as two browser tabs would hold
        with session_scope(engine) as session:
            lease = leases.lease_next(session, task_id=w.task_id, user_id=u, now=T0)
            assert lease is not None
            lease_ids.append(lease.id)
    got: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def send(lease_id: int) -> None:
        try:
            barrier.wait()
            got.append(
                labeling.submit(
                    engine,
                    u,
                    lease_id,
                    status="answer",
                    class_index=0,
                    idempotency_key="tab",
                    now=T0,
                )
            )
        except BaseException as err:  # surfaced below: a thread's failure must fail the test
            errors.append(err)

    threads = [threading.Thread(target=send, args=(i,)) for i in lease_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (label,) = _labels(engine)
    assert got == [label.id, label.id]
    with session_scope(engine) as session:  # the losing submission left its lease as it was
        statuses = sorted(session.get_one(Lease, i).status for i in lease_ids)
    assert statuses == ["open", "submitted"]


def test_expired_or_foreign_leases_are_refused(engine: Engine) -> None:
    w = _world(engine)
    u, v = w.users
    a = labeling.next_galaxy(engine, u, w.task_id, now=T0)
    assert a is not None
    with pytest.raises(PermissionError, match=f"lease {a.lease_id} belongs to user {u}"):
        labeling.submit(
            engine, v, a.lease_id, status="answer", class_index=0, idempotency_key="v1", now=T0
        )
    late = T0 + timedelta(seconds=labeling.LEASE_SECONDS + 1)
    with pytest.raises(leases.LeaseError, match=f"lease {a.lease_id} expired at"):
        labeling.submit(
            engine, u, a.lease_id, status="answer", class_index=0, idempotency_key="u1", now=late
        )
    assert _labels(engine) == []
    # The expired galaxy is not shown to u again, but its slot is free for v.
    b = labeling.next_galaxy(engine, u, w.task_id, now=late)
    assert b is not None and b.galaxy_id == w.galaxies[1]
    c = labeling.next_galaxy(engine, v, w.task_id, now=late)
    assert c is not None and c.galaxy_id == w.galaxies[0]
    with session_scope(engine) as session:
        assert session.get_one(Lease, a.lease_id).status == "expired"


def test_bad_input_names_the_field_and_writes_nothing(engine: Engine) -> None:
    w = _world(engine)
    u = w.users[0]
    a = labeling.next_galaxy(engine, u, w.task_id, now=T0)
    assert a is not None
    bad = [
        ({"status": "maybe"}, "status must be one of"),
        ({"status": "answer", "class_index": 3}, r"class_index must be an integer in 0\.\.2"),
        ({"status": "answer", "class_index": -1}, "class_index must be an integer"),
        ({"status": "answer", "class_index": True}, "class_index must be an integer"),
        ({"status": "answer"}, "class_index is required"),
        ({"status": "skip", "class_index": 1}, "class_index must be None for a skip"),
        ({"status": "answer", "class_index": 0, "idempotency_key": ""}, "idempotency_key"),
    ]
    for kw, message in bad:
        kw = {"idempotency_key": "k", "now": T0, **kw}
        with pytest.raises(ValueError, match=message):
            labeling.submit(engine, u, a.lease_id, **kw)
    assert _labels(engine) == []
    # Nothing was half-done: the lease is still open and takes a good answer.
    labeling.submit(engine, u, a.lease_id, status="unsure", idempotency_key="k", now=T0)
    assert [(x.status, x.class_index) for x in _labels(engine)] == [("unsure", None)]


def test_skip_and_leave_hand_the_galaxy_to_someone_else(engine: Engine) -> None:
    w = _world(engine, n=2)
    u, v = w.users
    a = labeling.next_galaxy(engine, u, w.task_id, now=T0)
    assert a is not None
    labeling.submit(engine, u, a.lease_id, status="skip", idempotency_key="s", now=T0)
    b = labeling.next_galaxy(engine, u, w.task_id, now=T0)
    assert b is not None and b.galaxy_id == w.galaxies[1]
    labeling.leave(engine, u, b.lease_id, now=T0)
    assert labeling.next_galaxy(engine, u, w.task_id, now=T0) is None
    got = [labeling.next_galaxy(engine, v, w.task_id, now=T0) for _ in range(2)]
    assert got[0] is not None and got[0].galaxy_id == w.galaxies[0]
    assert got[1] == got[0]  # v's open lease comes back until v answers it
    assert [x.status for x in _labels(engine)] == ["skip"]


def test_undo_retracts_the_last_label_and_the_galaxy_comes_back(engine: Engine) -> None:
    w = _world(engine)
    u = w.users[0]
    ids = []
    for k in range(2):
        a = labeling.next_galaxy(engine, u, w.task_id, now=T0)
        assert a is not None
        ids.append(
            labeling.submit(
                engine,
                u,
                a.lease_id,
                status="answer",
                class_index=k,
                idempotency_key=f"k{k}",
                now=T0,
            )
        )
    pending = labeling.next_galaxy(engine, u, w.task_id, now=T0)  # g2 is on screen
    assert pending is not None and pending.galaxy_id == w.galaxies[2]
    later = T0 + timedelta(seconds=30)
    undo = labeling.undo_last(engine, u, w.task_id, now=later)
    rows = _labels(engine)
    assert [(x.id, x.status, x.supersedes_id) for x in rows] == [
        (ids[0], "answer", None),
        (ids[1], "answer", None),
        (undo, "retracted", ids[1]),
    ]
    back = labeling.next_galaxy(engine, u, w.task_id, now=later)
    assert back is not None and back.galaxy_id == w.galaxies[1]  # before g2
    with session_scope(engine) as session:
        item = session.get_one(QueueItem, back.queue_item_id)
        assert (item.status, item.n_labels) == ("leased", 0)
    again = labeling.submit(
        engine, u, back.lease_id, status="answer", class_index=2, idempotency_key="k1b", now=later
    )
    with session_scope(engine) as session:
        current = session.scalars(current_labels_query(w.task_id).order_by(Label.id)).all()
        assert [(x.id, x.class_index) for x in current] == [(ids[0], 0), (again, 2)]
        assert session.get_one(Label, again).supersedes_id == undo
        assert session.get_one(QueueItem, back.queue_item_id).status == "done"
    # Undo walks back: the new answer for g1, then g0's.
    assert labeling.undo_last(engine, u, w.task_id, now=later) is not None
    second = labeling.undo_last(engine, u, w.task_id, now=later + timedelta(seconds=1))
    with session_scope(engine) as session:
        assert session.get_one(Label, second).supersedes_id == ids[0]
    front = labeling.next_galaxy(engine, u, w.task_id, now=later + timedelta(seconds=1))
    assert front is not None and front.galaxy_id == w.galaxies[0]


def test_undo_with_nothing_to_undo(engine: Engine) -> None:
    w = _world(engine)
    assert labeling.undo_last(engine, w.users[0], w.task_id, now=T0) is None


def test_undone_skip_comes_back_only_to_a_free_slot(engine: Engine) -> None:
    w = _world(engine, n=1)
    u, v = w.users
    a = labeling.next_galaxy(engine, u, w.task_id, now=T0)
    assert a is not None
    labeling.submit(engine, u, a.lease_id, status="skip", idempotency_key="s", now=T0)
    assert labeling.next_galaxy(engine, v, w.task_id, now=T0) is not None  # v took the slot
    assert labeling.undo_last(engine, u, w.task_id, now=T0) is not None
    assert labeling.next_galaxy(engine, u, w.task_id, now=T0) is None  # overlap 1 holds


def test_two_labelers_on_an_overlap_two_item_both_stand(engine: Engine) -> None:
    w = _world(engine, n=1)
    u, v = w.users
    got = [labeling.next_galaxy(engine, x, w.task_id, overlap=2, now=T0) for x in (u, v)]
    assert got[0] is not None and got[1] is not None
    assert got[0].queue_item_id == got[1].queue_item_id
    for x, a, k in ((u, got[0], 0), (v, got[1], 1)):
        labeling.submit(
            engine, x, a.lease_id, status="answer", class_index=k, idempotency_key=f"{x}", now=T0
        )
    with session_scope(engine) as session:
        current = session.scalars(current_labels_query(w.task_id)).all()
        assert sorted((x.user_id, x.class_index) for x in current) == [(u, 0), (v, 1)]
        item = session.get_one(QueueItem, got[0].queue_item_id)
        assert (item.status, item.n_labels) == ("done", 2)
        assert session.scalar(select(func.count(Lease.id))) == 2
