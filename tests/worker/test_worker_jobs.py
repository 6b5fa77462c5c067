"""The worker loop: a failing job is retried up to max_attempts, then failed with its error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from app import worker as worker_module
from app.config import Settings
from app.worker import WorkerOptions, run_worker
from storage import jobs
from storage.db import session_scope
from storage.models import Job


def test_a_failing_job_is_retried_then_failed(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict] = []

    def flaky(settings, job_id, worker, params, report, *, device=None) -> None:
        calls.append(dict(params))
        report(0.5, "half way", {**params, "state": {"tries": len(calls)}})
        raise RuntimeError(f"boom {len(calls)}")

    monkeypatch.setitem(worker_module.RUNNERS, "retrain", flaky)
    with session_scope(engine) as session:
        job_id = jobs.enqueue(session, "retrain", {"survey": "s"}, max_attempts=2).id
    settings = Settings(home=tmp_path, db_url=db_url)
    assert run_worker(settings, WorkerOptions(once=True)) == 0
    # The retry saw the state the first attempt saved: a resumed job, not a fresh one.
    assert calls == [{"survey": "s"}, {"survey": "s", "state": {"tries": 1}}]
    with session_scope(engine) as session:
        job = session.get(Job, job_id)
        assert (job.status, job.attempts, job.progress) == ("failed", 2, 0.5)
        assert job.error == "RuntimeError: boom 2" and job.finished_at is not None
