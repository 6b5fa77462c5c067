"""``--device`` from the commands to the fit and the scoring pass: the CPU named explicitly is
today's path, and a device this machine lacks is refused with the reason, before anything is
written. (CI has no GPU: bench/gpu_check.py is the run on one.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import app
from app.worker import WorkerOptions, run_worker
from storage import jobs
from storage.db import session_scope
from storage.models import Job, ModelVersion
from tests.worker.conftest import World, galactive

runner = CliRunner()


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_a_round_on_the_named_cpu_records_it_and_runs(world: World, tmp_path: Path) -> None:
    settings = world.copy(tmp_path)
    galactive(settings, "retrain", "--epochs", "1", "--min-steps", "0", "--device", "cpu")
    assert run_worker(settings, WorkerOptions(once=True, survey="mock")) == 1
    engine = settings.engine()
    with session_scope(engine) as session:
        job = session.scalars(select(Job).order_by(Job.id.desc())).first()
        assert (job.status, job.params["device"]) == ("succeeded", "cpu")
    engine.dispose()


@pytest.mark.parametrize("whose", ["job", "worker"])
def test_a_missing_gpu_fails_the_job_saying_so_and_writes_nothing(
    world: World, tmp_path: Path, no_gpu: None, whose: str
) -> None:
    settings = world.copy(tmp_path)
    engine = settings.engine()
    params = {"survey": "mock", "epochs": 1, "min_steps": 0}
    with session_scope(engine) as session:
        versions = session.scalar(select(func.count(ModelVersion.id)))
        job_id = jobs.enqueue(session, "retrain", {**params, "device": "cuda"} if whose == "job"
                              else params).id  # fmt: skip
    options = WorkerOptions(once=True, survey="mock", device="cuda" if whose == "worker" else None)
    assert run_worker(settings, options) == 0
    with session_scope(engine) as session:
        job = session.get(Job, job_id)
        assert job.status == "failed"
        assert "device 'cuda': no CUDA GPU is usable here" in job.error
        assert session.scalar(select(func.count(ModelVersion.id))) == versions
    engine.dispose()


@pytest.mark.parametrize("command", [["train", "--labels"], ["score"], ["worker", "--once"]])
def test_the_commands_refuse_a_missing_gpu(
    world: World, tmp_path: Path, no_gpu: None, command: list[str]
) -> None:
    settings = world.copy(tmp_path)
    args = ["--db", settings.db_url, "--home", str(settings.home), *command, "--device", "cuda"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "no CUDA GPU is usable here" in result.output


def test_dask_scoring_refuses_a_device(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    settings = world.copy(tmp_path)
    args = ["--db", settings.db_url, "--home", str(settings.home), "score", "--dask"]
    result = runner.invoke(app, [*args, "--device", "cuda"])
    assert result.exit_code == 2
    assert "Dask workers score on their CPUs" in result.output
