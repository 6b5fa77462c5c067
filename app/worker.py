"""``galactive worker``: take jobs from the database and run them, one at a time.

A background thread heartbeats the claimed job every ``stale_after / 4`` seconds, so a
worker that is killed (``kill -9``, lost node) goes silent and its job is queued again by
the next worker that looks; a job that raises is retried up to its ``max_attempts``. When
idle, the worker queues a retrain once ``retrain_every`` new labels have arrived.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from app.config import Settings
from app.services.loop.retrain import KIND, new_labels, request_retrain, run_retrain
from app.services.models.pretrain_job import KIND as PRETRAIN
from app.services.models.pretrain_job import run_pretrain_job
from app.services.models.versions import fail_orphans, process_owner
from storage import jobs
from storage.db import session_scope
from storage.models import Job

RUNNERS = {KIND: run_retrain, PRETRAIN: run_pretrain_job}
MAX_ERROR = 2000  # characters of a job's error kept (SQL errors quote every parameter)


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker polls and when it declares another worker's job lost."""

    poll: float = 2.0
    stale_after: float = 60.0
    retrain_every: int | None = None
    survey: str = "mock"
    once: bool = False  # stop when no job is waiting
    device: str | None = None  # where jobs fit and score unless they name a device


def run_worker(
    settings: Settings,
    options: WorkerOptions,
    *,
    on_progress: Callable[[int, float, str], None] | None = None,
) -> int:
    """Run jobs until none is waiting (``once``) or forever; returns how many it finished."""
    engine = settings.engine()
    name = process_owner()
    done = 0
    try:
        while True:
            jobs.recover_stale(engine, stale_after=options.stale_after)
            fail_orphans(engine)
            if options.retrain_every:
                with session_scope(engine) as session:
                    if new_labels(session, options.survey) >= options.retrain_every:
                        request_retrain(session, options.survey)
            job_id = jobs.claim(engine, name, kinds=tuple(RUNNERS))
            if job_id is None:
                if options.once:
                    return done
                time.sleep(options.poll)
                continue
            done += run_job(
                settings, job_id, name, options.stale_after, on_progress, device=options.device
            )
    finally:
        engine.dispose()


def run_job(
    settings: Settings,
    job_id: int,
    worker: str,
    stale_after: float,
    on_progress: Callable[[int, float, str], None] | None = None,
    *,
    device: str | None = None,
) -> int:
    """Run one claimed job with a heartbeat; 1 if it succeeded, else 0 (retried or failed).
    device: the worker's, for a job that names none."""
    engine = settings.engine()
    with session_scope(engine) as session:
        job = session.get(Job, job_id)
        kind, params, attempts, max_attempts = (
            job.kind,
            dict(job.params),
            job.attempts,
            job.max_attempts,
        )
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(engine, job_id, worker, stale_after / 4, stop), daemon=True
    )
    beat.start()

    def report(progress: float, message: str, new_params: dict[str, Any] | None) -> None:
        jobs.heartbeat(
            engine, job_id, worker, progress=progress, message=message, params=new_params
        )
        if on_progress is not None:
            on_progress(job_id, progress, message)

    try:
        RUNNERS[kind](settings, job_id, worker, params, report, device=device)
        return 1
    except jobs.JobLostError:
        return 0  # another worker has it now
    except Exception as err:
        _give_up_or_retry(engine, job_id, worker, err, retry=attempts < max_attempts)
        return 0
    finally:
        stop.set()
        beat.join()
        engine.dispose()


def _heartbeat(engine: Any, job_id: int, worker: str, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            jobs.heartbeat(engine, job_id, worker)
        except jobs.JobLostError:
            return


def _give_up_or_retry(
    engine: Any, job_id: int, worker: str, err: Exception, *, retry: bool
) -> None:
    """Queue the job again (it resumes from its saved state) or mark it failed."""
    error = "".join(traceback.format_exception_only(err)).strip()[:MAX_ERROR]
    with session_scope(engine) as session:
        if retry:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.worker == worker, Job.status == "running")
                .values(status="queued", worker=None, error=error, message="retrying after error")
            )
        else:
            jobs.finish(session, job_id, worker, error=error, message="failed")
