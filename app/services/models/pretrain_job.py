"""Pretraining as a worker job (``galactive pretrain --background``): queued, run by
``galactive worker`` with progress and ETA in the jobs table, and taken up after a lost worker
where the run's last saved epoch ended (:mod:`app.services.models.pretraining`)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.services.loop.retrain import Report
from app.services.models.pretraining import run_pretraining
from bayes.pretrain import PretrainConfig
from storage import jobs
from storage.db import session_scope

KIND = "pretrain"
EVERY = 2.0  # seconds between progress reports


def request_pretraining(
    session: Session, survey: str, modalities: tuple[str, ...], config: PretrainConfig
) -> int:
    """Queue a pretraining job (or return the queued or running one with these settings)."""
    params = {"survey": survey, "modalities": list(modalities), **dataclasses.asdict(config)}
    return jobs.enqueue(session, KIND, params).id


def run_pretrain_job(
    settings: Settings,
    job_id: int,
    worker: str,
    params: dict[str, Any],
    report: Report,
    *,
    device: str | None = None,
) -> None:
    """Carry out (or resume) pretraining job ``job_id``, reporting progress with an ETA.
    device: the worker's; unused, as pretraining has no GPU path yet (it runs on the CPU)."""
    fields = {f.name for f in dataclasses.fields(PretrainConfig)}
    config = PretrainConfig(**{k: v for k, v in params.items() if k in fields})
    start, last = time.monotonic(), [0.0]
    first: list[int] = []

    def step(done: int, total: int) -> None:
        now = time.monotonic()
        if not first:
            first.append(done - 1)  # steps a resumed run had done before this attempt
        if now - last[0] < EVERY and done < total:
            return
        last[0] = now
        rate = (done - first[0]) / max(now - start, 1e-9)
        eta = (total - done) / rate if rate > 0 else float("nan")
        report(done / total, f"pretraining: step {done} of {total}, ETA {eta:.0f} s", None)

    result = run_pretraining(
        settings, params["survey"], tuple(params["modalities"]), config, on_step=step
    )
    encoder = str(result.directory.relative_to(settings.home))
    losses = ", ".join(f"{k} {v:.4g}" for k, v in result.losses.items())
    message = f"encoder {encoder}: {result.galaxies} galaxies; loss {losses}"
    engine = settings.engine()
    try:
        with session_scope(engine) as session:
            jobs.finish(session, job_id, worker, message=message)
    finally:
        engine.dispose()
