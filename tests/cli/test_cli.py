"""The ``galactive`` command: help everywhere, init, migrations and status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from app.cli import app
from storage import migrate
from storage.db import make_engine

runner = CliRunner()

COMMANDS = [
    [],
    ["init"],
    ["db"],
    ["db", "upgrade"],
    ["db", "downgrade"],
    ["db", "current"],
    ["mock"],
    ["ingest"],
    ["ingest", "images"],
    ["ingest", "spectra"],
    ["ingest", "catalog"],
    ["ingest", "hdf5"],
    ["status"],
    ["train"],
    ["evaluate"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "galactive")
def test_every_command_explains_itself(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    # The first docstring line shows up as the description.
    assert len(result.output.splitlines()) > 4


def test_init_then_status_on_default_sqlite(tmp_path: Path) -> None:
    env = {"GALACTIVE_HOME": str(tmp_path / "home"), "GALACTIVE_DB": ""}
    result = runner.invoke(app, ["init"], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "home" / "galactive.db").exists()
    result = runner.invoke(app, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"surveys": []}


def test_status_migrates_an_empty_database(empty_db_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["--db", empty_db_url, "--home", str(tmp_path), "status"])
    assert result.exit_code == 0, result.output
    assert "no surveys yet" in result.output


def test_outdated_schema_is_refused_not_migrated(empty_db_url: str, tmp_path: Path) -> None:
    migrate.upgrade(empty_db_url)
    runner.invoke(app, ["--db", empty_db_url, "db", "downgrade", "base"])
    # Tables but no current revision: not empty, not at head -> never migrated silently.
    engine = make_engine(empty_db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE leftover (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    result = runner.invoke(app, ["--db", empty_db_url, "--home", str(tmp_path), "status"])
    assert result.exit_code == 2
    assert "galactive db upgrade" in result.output
