"""The ``galactive`` command: help everywhere, init, migrations and status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from app.cli import app
from storage import migrate
from storage.db import make_engine

runner = CliRunner()


def _commands(command: object, path: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command and sub-command of the CLI, found by walking it (new ones are covered)."""
    found = [list(path)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_the_walk_finds_the_commands() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"", "train", "worker", "retrain", "ingest catalog", "db upgrade"} <= names


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
