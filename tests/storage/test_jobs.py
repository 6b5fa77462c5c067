"""The job table as a work queue on both databases: one owner per job, lost jobs come back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from storage import jobs
from storage.db import session_scope
from storage.models import Job


def _queue(engine: Engine, params: dict, **kw: object) -> int:
    with session_scope(engine) as session:
        return jobs.enqueue(session, "retrain", params, **kw).id


def test_enqueue_returns_the_waiting_twin(engine: Engine) -> None:
    first = _queue(engine, {"survey": "a"})
    assert _queue(engine, {"survey": "a"}) == first
    assert _queue(engine, {"survey": "b"}) != first
    with session_scope(engine) as session:  # state a running job adds does not make it differ
        session.get(Job, first).params = {"survey": "a", "state": {"version_id": 3}}
    assert _queue(engine, {"survey": "a"}) == first


def test_claim_takes_the_oldest_and_only_once(engine: Engine) -> None:
    a, b = _queue(engine, {"n": 1}), _queue(engine, {"n": 2})
    assert jobs.claim(engine, "w1") == a
    assert jobs.claim(engine, "w2") == b
    assert jobs.claim(engine, "w3") is None
    with session_scope(engine) as session:
        job = session.get(Job, a)
        assert (job.status, job.worker, job.attempts) == ("running", "w1", 1)


def test_concurrent_claims_have_one_winner(engine: Engine) -> None:
    job_id = _queue(engine, {"n": 1})
    won: list[int | None] = []
    barrier = threading.Barrier(6)

    def grab(name: str) -> None:
        barrier.wait()
        won.append(jobs.claim(engine, name))

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won, key=lambda x: x or 0) == [None] * 5 + [job_id]


def test_only_the_owner_heartbeats_or_finishes(engine: Engine) -> None:
    job_id = _queue(engine, {"n": 1})
    jobs.claim(engine, "w1")
    jobs.heartbeat(engine, job_id, "w1", progress=0.5, message="half", params={"n": 1, "s": 2})
    with pytest.raises(jobs.JobLostError):
        jobs.heartbeat(engine, job_id, "w2")
    with pytest.raises(jobs.JobLostError), session_scope(engine) as session:
        jobs.finish(session, job_id, "w2")
    with session_scope(engine) as session:
        jobs.finish(session, job_id, "w1", message="ok")
    with session_scope(engine) as session:
        job = session.get(Job, job_id)
        assert (job.status, job.progress, job.message, job.params) == (
            "succeeded", 1.0, "ok", {"n": 1, "s": 2}
        )  # fmt: skip


def test_silent_jobs_are_retried_then_failed(engine: Engine) -> None:
    job_id = _queue(engine, {"n": 1}, max_attempts=2)
    old = datetime.now(UTC) - timedelta(seconds=120)
    for attempt in (1, 2):
        assert jobs.claim(engine, f"w{attempt}") == job_id
        assert jobs.recover_stale(engine, stale_after=60) == 0  # fresh heartbeat: left alone
        with session_scope(engine) as session:
            session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=old))
        retried = jobs.recover_stale(engine, stale_after=60)
        with session_scope(engine) as session:
            job = session.get(Job, job_id)
            expected = ("queued", None) if attempt == 1 else ("failed", f"w{attempt}")
            assert (job.status, job.worker) == expected
            assert retried == (1 if attempt == 1 else 0)
    with pytest.raises(jobs.JobLostError):
        jobs.heartbeat(engine, job_id, "w2")
