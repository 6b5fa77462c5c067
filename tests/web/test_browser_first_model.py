"""A survey's first model, fitted by a worker while the app is already open, appears in
headless Chromium by itself: no reload, the page polls the job and redraws when it ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from app.config import Settings
from storage.db import session_scope
from storage.models import Job, ModelVersion
from tests.databases import Databases
from tests.web import browser
from tests.web.conftest import PASSWORDS, build_waiting_site

pytestmark = pytest.mark.slow

WORKER_TIMEOUT = 300  # seconds for one epoch of the 40-galaxy mock, scoring and queues


# the embedded default only: the job and its polling run on both backends in
# tests/worker/test_first_model.py; here it is the page, 35 s of a worker fit per backend
@pytest.mark.parametrize("backend_dbs", ["sqlite"], indirect=True)
def test_the_first_model_appears_by_itself_when_its_job_ends(
    backend_dbs: Databases, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    settings = build_waiting_site(backend_dbs, tmp_path / "home").template
    with browser.served(settings, tmp_path / "serve.log") as url, sync_playwright() as p:
        chromium = browser.launch(p)
        page = chromium.new_page(viewport={"width": 1400, "height": 1200})
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.goto(url)
        browser.submit_sign_in(page, "ada", PASSWORDS["ada"])
        page.get_by_text("The first model of mock is queued (job 1)").wait_for(timeout=60_000)
        worker = subprocess.run(
            [sys.executable, "-c", "from app.cli import main; main()", "--db", settings.db_url,
             "--home", str(settings.home), "worker", "--once"],
            capture_output=True, text=True, timeout=WORKER_TIMEOUT,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stdout + worker.stderr
        assert [s for s, *_ in job_state(settings)][:1] == ["succeeded"], job_state(settings)
        try:
            heading = browser.wait_for_galaxy(page, timeout=120.0)  # no reload: the page polls
        except TimeoutError as err:
            raise AssertionError(
                f"{job_state(settings)}; page: {page.inner_text('body')!r}; console: {console}; "
                "server log: "
                f"{(tmp_path / 'serve.log').read_text()[-3000:]}"
            ) from err
        chromium.close()
    assert heading.endswith("· morphology")


def job_state(settings: Settings) -> list[tuple]:
    """Every job's (status, message, error), then every version's (name, active, status)."""
    engine = settings.engine()
    with session_scope(engine) as session:
        jobs = session.execute(select(Job.status, Job.message, Job.error).order_by(Job.id)).all()
        versions = session.execute(
            select(ModelVersion.name, ModelVersion.is_active, ModelVersion.status)
        ).all()
    engine.dispose()
    return [tuple(j) for j in jobs] + [tuple(v) for v in versions]
