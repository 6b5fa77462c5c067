"""A small labelled survey with a trained, active model, built once per database backend."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app
from app.config import Settings, resolve
from storage.db import session_scope
from storage.models import Label, Task, Truth, User
from tests.databases import Databases

runner = CliRunner()


def galactive(settings: Settings, *args: str) -> str:
    """Run a CLI command against ``settings``; its output (fails the test on an error)."""
    result = runner.invoke(app, ["--db", settings.db_url, "--home", str(settings.home), *args])
    assert result.exit_code == 0, result.output
    return result.output


def add_expert_labels(settings: Settings, n: int, *, seed: int) -> list[int]:
    """``n`` morphology answers by user ada for unlabelled galaxies (the simulated expert's)."""
    engine = settings.engine()
    with session_scope(engine) as session:
        user = session.scalar(select(User).where(User.name == "ada"))
        if user is None:
            user = User(name="ada", role="labeler")
            session.add(user)
            session.flush()
        task = session.scalar(select(Task).where(Task.name == "morphology"))
        done = set(session.scalars(select(Label.galaxy_id).where(Label.task_id == task.id)))
        answers = session.execute(
            select(Truth.galaxy_id, Truth.class_index)
            .where(Truth.task_id == task.id, Truth.kind == "simulated_expert")
            .order_by(Truth.galaxy_id)
        ).all()
        todo = [a for a in answers if a[0] not in done]
        pick = np.random.default_rng(seed).choice(len(todo), size=n, replace=False)
        labels = [
            Label(task_id=task.id, galaxy_id=todo[i][0], source="expert",
                  class_index=todo[i][1], user_id=user.id)
            for i in sorted(pick)
        ]  # fmt: skip
        session.add_all(labels)
        session.flush()
        ids = [lab.id for lab in labels]
    engine.dispose()
    return ids


@dataclass(frozen=True)
class World:
    """A template survey (database URL + home) that tests copy before changing it."""

    dbs: Databases
    template: Settings

    def copy(self, tmp_path: Path) -> Settings:
        home = tmp_path / "home"
        shutil.copytree(self.template.home, home)
        return Settings(home=home, db_url=self.dbs.clone(self.template.db_url))


@pytest.fixture(scope="module")
def world(backend_dbs: Databases, tmp_path_factory: pytest.TempPathFactory) -> World:
    """60 mock galaxies, 30 expert morphology labels, a model trained on labels, active."""
    torch.set_num_threads(1)
    settings = resolve(backend_dbs.migrated(), tmp_path_factory.mktemp("world"))
    galactive(settings, "mock", "--n", "60", "--seed", "5", "--workers", "1",
              "--spectra-fraction", "0.3")  # fmt: skip
    add_expert_labels(settings, 30, seed=0)
    galactive(settings, "train", "--labels", "--epochs", "1", "--min-steps", "0", "--threads", "1")
    return World(backend_dbs, settings)
