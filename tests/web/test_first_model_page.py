"""Before the first model exists: the pages say it is being fitted, with its progress, and
come back as themselves once the worker's job has activated it (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from app.config import Settings
from app.worker import WorkerOptions, run_worker
from storage.db import session_scope
from storage.models import Job
from tests.databases import Databases
from tests.web.conftest import build_waiting_site
from tests.web.markdown import shown
from tests.web.test_pages import deck, open_page
from tests.worker.conftest import World


@pytest.fixture(scope="module")
def site(backend_dbs: Databases, tmp_path_factory: pytest.TempPathFactory) -> World:
    """40 mock galaxies, two users and a queued first-model job; no worker has run."""
    return build_waiting_site(backend_dbs, tmp_path_factory.mktemp("first"))


def said(at: AppTest) -> str:
    parts = [m.value for kind in ("markdown", "caption", "info", "success") for m in at.get(kind)]
    bars = [p.proto.text for p in at.get("progress")]
    return shown(" ".join(str(p) for p in parts + bars))


@pytest.mark.parametrize("page", ["views/label.py", "views/models.py", "views/reports.py"])
def test_pages_wait_for_the_first_model_and_say_why(app_settings: Settings, page: str) -> None:
    at = open_page("bob", page)
    assert "The first model of mock is queued (job 1), but no worker has picked it up" in said(at)
    assert not at.get("dataframe") and not at.subheader  # no table, no galaxy yet


def test_progress_shows_the_stage_step_and_eta(app_settings: Settings) -> None:
    engine = app_settings.engine()
    with session_scope(engine) as session:
        session.execute(
            update(Job).values(status="running", worker="w1", progress=0.35,
                               message="training: epoch 7/20, ETA 50 s")
        )  # fmt: skip
    engine.dispose()
    at = open_page("bob", "views/label.py")
    assert "being fitted (job 1, 35%): training: epoch 7/20, ETA 50 s" in said(at)


def test_when_the_job_ends_the_pages_are_themselves(app_settings: Settings) -> None:
    assert run_worker(app_settings, WorkerOptions(once=True)) == 1
    at = open_page("bob", "views/label.py")
    assert deck(at)["cards"] and "first model" not in said(at)  # galaxies to label
    at = open_page("ada", "views/models.py")
    assert list(at.dataframe[0].value["version"]) == ["mock-v1"]
