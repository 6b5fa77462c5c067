"""Shared fixtures: one test per database backend, on real SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from storage.arrays import ArrayStore
from storage.db import make_engine
from tests.databases import PG_ENV, Databases, databases, pg_available

BACKENDS = ["sqlite", "postgresql"]


def _require_pg() -> None:
    """PostgreSQL tests skip only on a machine that has neither the server nor the setting."""
    if pg_available():
        return
    if os.environ.get(PG_ENV) or os.environ.get("CI"):
        pytest.fail(f"PostgreSQL at {os.environ.get(PG_ENV)} is not reachable", pytrace=False)
    pytest.skip(f"no PostgreSQL server; set {PG_ENV} to run these tests")


@pytest.fixture(scope="session", params=BACKENDS)
def backend_dbs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    """Database factory for each backend, shared by the session."""
    if request.param == "postgresql":
        _require_pg()
    with databases(request.param, tmp_path_factory.mktemp(request.param)) as dbs:
        yield dbs


@pytest.fixture
def db_url(backend_dbs: Databases) -> str:
    """A fresh database at the newest schema."""
    return backend_dbs.migrated()


@pytest.fixture
def empty_db_url(backend_dbs: Databases) -> str:
    """A fresh empty database."""
    return backend_dbs.empty()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(tmp_path: Path) -> ArrayStore:
    return ArrayStore(tmp_path / "arrays")
