"""Throwaway databases for tests: a fresh SQLite file or PostgreSQL database per test.

PostgreSQL comes from ``GALACTIVE_TEST_PG_URL`` (``.ci/run`` sets it after checking the
server is up). Each test gets a database cloned from a template already migrated to
head, so tests are isolated and fast; the clone is dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage import migrate

PG_ENV = "GALACTIVE_TEST_PG_URL"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def pg_admin_url() -> str:
    """The PostgreSQL URL tests may create databases through."""
    return os.environ.get(PG_ENV, PG_DEFAULT)


def pg_available() -> bool:
    """Whether the PostgreSQL server answers."""
    try:
        engine = create_engine(_psycopg(pg_admin_url()))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def _psycopg(url: str) -> str:
    return str(make_url(url).set(drivername="postgresql+psycopg"))


def _with_database(url: str, name: str) -> str:
    return make_url(_psycopg(url)).set(database=name).render_as_string(hide_password=False)


def _admin(sql: str) -> None:
    engine = create_engine(_psycopg(pg_admin_url()), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


class Databases:
    """Creates empty or migrated databases of one backend."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.workdir = workdir
        self._template: str | None = None
        self._created: list[str] = []

    def empty(self) -> str:
        """URL of a new empty database."""
        name = f"galactive_t_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            return f"sqlite:///{self.workdir / (name + '.db')}"
        _admin(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return _with_database(pg_admin_url(), name)

    def migrated(self) -> str:
        """URL of a new database at the newest schema (cloned from a template)."""
        if self._template is None:
            self._template = self.empty()
            migrate.upgrade(self._template)
        return self.clone(self._template)

    def clone(self, url: str) -> str:
        """URL of a copy of the database at ``url`` (which must have no open connections)."""
        name = f"galactive_t_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            target = self.workdir / f"{name}.db"
            shutil.copyfile(Path(make_url(url).database or ""), target)
            return f"sqlite:///{target}"
        _admin(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(url).database}"')
        self._created.append(name)
        return _with_database(pg_admin_url(), name)

    def drop_all(self) -> None:
        """Drop every PostgreSQL database this object created."""
        for name in reversed(self._created):
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()


@contextmanager
def databases(backend: str, workdir: Path) -> Iterator[Databases]:
    """Databases of ``backend`` that are dropped when the block ends."""
    dbs = Databases(backend, workdir)
    try:
        yield dbs
    finally:
        dbs.drop_all()
