"""The survey's first model as a worker job (``galactive train --background``): the app can
start before any fit, the job says its stage, step of total and ETA, and one job fits, scores,
activates and builds the queues."""

from __future__ import annotations

from pathlib import Path

import torch
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app
from app.config import resolve
from app.worker import WorkerOptions, run_worker
from storage.db import session_scope
from storage.models import Job, ModelVersion, QueueItem
from tests.databases import Databases
from tests.worker.conftest import add_expert_labels, galactive

runner = CliRunner()


def test_the_first_model_is_a_job_with_progress_and_eta(
    backend_dbs: Databases, tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    settings = resolve(backend_dbs.migrated(), tmp_path / "home")
    galactive(settings, "mock", "--n", "40", "--seed", "5", "--workers", "1",
              "--spectra-fraction", "0.3")  # fmt: skip
    add_expert_labels(settings, 20, seed=0)
    first = ("train", "--labels", "--background", "--epochs", "1", "--min-steps", "4")
    out = galactive(settings, *first)
    assert "first-model job 1 queued for survey 'mock'" in out
    assert "first-model job 1 queued" in galactive(settings, *first)  # asked twice: one job
    messages: list[str] = []
    done = run_worker(
        settings,
        WorkerOptions(once=True, survey="mock"),
        on_progress=lambda _job, _p, message: messages.append(message),
    )
    assert done == 1
    assert messages[0].startswith("training version 1 on ")
    epochs = [m for m in messages if m.startswith("training: epoch")]
    # 20 labels split ~70% train: one minibatch, so the 4-step floor makes it 4 epochs
    assert [m.split(",")[0] for m in epochs] == [f"training: epoch {k}/4" for k in (1, 2, 3, 4)]
    assert all(", ETA " in m for m in epochs) and epochs[-1].endswith("ETA 0 s")
    assert any(m.startswith("scoring: ") and "ETA" in m for m in messages)
    engine = settings.engine()
    with session_scope(engine) as session:
        version = session.scalars(select(ModelVersion)).one()
        job = session.get(Job, 1)
        queued = session.scalars(select(QueueItem.id).where(QueueItem.queue == "label")).all()
        assert (version.is_active, version.config["source"], job.status) == (
            True, "labels", "succeeded",
        )  # fmt: skip
        assert version.config["model"]["min_steps"] == 4 and version.parent_id is None
        assert version.config["model"]["modalities"] == ["image", "spectrum", "photometry"]
    engine.dispose()
    assert queued  # scored and queued by the same job
    args = ["--db", settings.db_url, "--home", str(settings.home), *first]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "has an active model" in result.output
    assert "skipping" in galactive(settings, *first, "--skip-if-active")
