"""A tiny survey with an active model, a label queue and two users, built once per backend.

40 mock galaxies (30% with spectra), a 1-epoch model trained on truth, then one retrain round
run in-process (as ``tests/worker``), which activates version 2 and builds its label queue.
Tests copy it before changing it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
import torch

from app.config import Settings, resolve
from app.services.auth import add_user
from app.worker import WorkerOptions, run_worker
from storage.db import session_scope
from tests.databases import Databases, databases
from tests.web import browser
from tests.worker.conftest import World, galactive

PASSWORDS = {"ada": "ada-password", "bob": "bob-password"}  # ada is an admin, bob a labeler


def _survey_and_users(dbs: Databases, home: Path) -> Settings:
    """40 mock galaxies (30% with spectra) and the users ada (admin) and bob (labeler) in a new
    database of ``dbs``."""
    torch.set_num_threads(1)
    settings = resolve(dbs.migrated(), home)
    galactive(settings, "mock", "--n", "40", "--seed", "5", "--workers", "1",
              "--spectra-fraction", "0.3")  # fmt: skip
    engine = settings.engine()
    with session_scope(engine) as session:
        add_user(session, "ada", "admin", PASSWORDS["ada"])
        add_user(session, "bob", "labeler", PASSWORDS["bob"])
    engine.dispose()
    return settings


def build_site(dbs: Databases, home: Path) -> World:
    """Mock survey, model, retrain round and users in a new database of ``dbs``."""
    settings = _survey_and_users(dbs, home)
    galactive(settings, "train", "--epochs", "1", "--min-steps", "0", "--threads", "1")
    galactive(settings, "retrain", "--epochs", "1")
    assert run_worker(settings, WorkerOptions(once=True)) == 1
    return World(dbs, settings)


def build_waiting_site(dbs: Databases, home: Path) -> World:
    """Mock survey and users as build_site, but only a queued first-model job: no model yet,
    no worker has run."""
    settings = _survey_and_users(dbs, home)
    galactive(settings, "train", "--background", "--epochs", "1", "--min-steps", "0")
    return World(dbs, settings)


@pytest.fixture(scope="module")
def site(backend_dbs: Databases, tmp_path_factory: pytest.TempPathFactory) -> World:
    """The template survey of this module and backend."""
    return build_site(backend_dbs, tmp_path_factory.mktemp("site"))


@pytest.fixture
def app_settings(
    site: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """A copy of the site that the app under test reads (through GALACTIVE_DB/HOME)."""
    settings = site.copy(tmp_path)
    monkeypatch.setenv("GALACTIVE_DB", settings.db_url)
    monkeypatch.setenv("GALACTIVE_HOME", str(settings.home))
    yield settings
    st.cache_resource.clear()  # engines and models of this copy
    st.cache_data.clear()


@pytest.fixture(scope="session")
def shared_site(backend_dbs: Databases, tmp_path_factory: pytest.TempPathFactory) -> World:
    """One template survey per backend for the whole session; a test module uses it instead
    of building its own by defining ``site`` as ``shared_site``."""
    return build_site(backend_dbs, tmp_path_factory.mktemp("shared_site"))


def _require_browser() -> None:
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not Path(browser.CHROMIUM).exists():
        missing.append(f"{browser.CHROMIUM} (apt-get install chromium)")
    if not missing:
        return
    reason = "browser test needs " + " and ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The test survey on SQLite (the browser test runs on one backend)."""
    _require_browser()
    with databases("sqlite", tmp_path_factory.mktemp("sqlite")) as dbs:
        yield build_site(dbs, tmp_path_factory.mktemp("site"))
