"""`galactive cold-start`: a new survey's first label queue, chosen by TypiClust on colours,
before any model; answered galaxies never queued again; refused once a model is active."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app
from app.config import resolve
from storage.db import session_scope
from storage.models import Label, ModelVersion, QueueItem, Task

runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-galaxy mock survey without labels."""
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("galactive")
    result = runner.invoke(app, ["--home", str(path), "mock", "--n", "60", "--seed", "4",
                                 "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


def _invoke(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), *args])


def _queue(home: Path) -> list[tuple]:
    engine = resolve(home=home).engine()
    with session_scope(engine) as session:
        rows = session.execute(
            select(QueueItem.galaxy_id, QueueItem.model_version_id, QueueItem.acquisition,
                   QueueItem.status)
            .join(Task, Task.id == QueueItem.task_id)
            .where(Task.name == "morphology", QueueItem.queue == "label")
            .order_by(QueueItem.priority.desc())
        ).all()  # fmt: skip
    engine.dispose()
    return [tuple(r) for r in rows]


def test_first_queue_by_typicality_then_the_models_own(home: Path) -> None:
    result = _invoke(home, "cold-start", "--survey", "mock", "--size", "8")
    assert result.exit_code == 0, result.output
    assert "morphology: 8 galaxies queued for labels by typicality" in result.output
    queued = _queue(home)
    assert len(queued) == 8 and len({g for g, *_ in queued}) == 8
    assert {(v, a, s) for _, v, a, s in queued} == {(None, "typiclust", "pending")}
    # an answered galaxy counts in its cluster and is not queued again
    engine = resolve(home=home).engine()
    with session_scope(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "morphology"))
        session.add(Label(task_id=task.id, galaxy_id=queued[0][0], source="expert",
                          status="answer", class_index=1))  # fmt: skip
    engine.dispose()
    again = _invoke(home, "cold-start", "--survey", "mock", "--size", "8")
    assert again.exit_code == 0, again.output
    requeued = [g for g, *_ in _queue(home)]
    assert len(requeued) == 8 and queued[0][0] not in requeued
    # once a model is active its queues rule: a cold start is refused, saying why
    engine = resolve(home=home).engine()
    with session_scope(engine) as session:
        session.add(ModelVersion(survey_id=task.survey_id, name="mock-v1", status="ready",
                                 is_active=True, config={}))  # fmt: skip
    engine.dispose()
    refused = _invoke(home, "cold-start", "--survey", "mock")
    words = " ".join(refused.output.replace("│", " ").split())
    assert refused.exit_code != 0 and "has an active model" in words, words
    missing = _invoke(home, "cold-start", "--survey", "nosuch")
    assert missing.exit_code != 0
