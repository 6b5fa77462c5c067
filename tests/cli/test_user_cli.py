"""``galactive user``: add from stdin or a hidden prompt, list, and clear errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from app.cli import app
from app.services.auth import authenticate
from storage.db import make_engine, session_scope

runner = CliRunner()


def _user(db_url: str, home: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", db_url, "--home", str(home), "user", *args], input=stdin)
    return result.exit_code, result.output


def test_add_then_list(db_url: str, tmp_path: Path) -> None:
    code, out = _user(db_url, tmp_path, "list")
    assert code == 0 and "no users yet" in out
    code, out = _user(
        db_url,
        tmp_path,
        "add",
        "ada",
        "--role",
        "admin",
        "--password-stdin",
        stdin="analytical engine\n",
    )
    assert code == 0, out
    assert "added admin 'ada'" in out
    code, out = _user(db_url, tmp_path, "add", "bob", stdin="difference engine\n" * 2)
    assert code == 0, out
    assert "difference engine" not in out  # the prompt hides what is typed
    code, out = _user(db_url, tmp_path, "list")
    assert code == 0
    assert [line.split("\t")[1:3] for line in out.splitlines()] == [
        ["ada", "admin"],
        ["bob", "labeler"],
    ]
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        assert authenticate(session, "ada", "analytical engine") is not None
        assert authenticate(session, "bob", "difference engine") is not None
    engine.dispose()


def test_duplicate_name_is_a_clear_error(db_url: str, tmp_path: Path) -> None:
    args = ("add", "ada", "--password-stdin")
    assert _user(db_url, tmp_path, *args, stdin="analytical engine\n")[0] == 0
    code, out = _user(db_url, tmp_path, *args, stdin="another password\n")
    assert code == 2
    assert "error: name 'ada' is already taken" in out


def test_bad_role_and_short_password_are_refused(db_url: str, tmp_path: Path) -> None:
    code, out = _user(
        db_url,
        tmp_path,
        "add",
        "ada",
        "--role",
        "root",
        "--password-stdin",
        stdin="analytical engine\n",
    )
    assert code == 2 and "root" in out
    code, out = _user(db_url, tmp_path, "add", "ada", "--password-stdin", stdin="short\n")
    assert code == 2 and "password must be at least 8" in out
    code, out = _user(db_url, tmp_path, "add", "ada", stdin="one password\nanother one\n" * 3)
    assert code != 0 and "do not match" in out.lower()


def test_user_commands_explain_themselves() -> None:
    for command in (["user"], ["user", "add"], ["user", "list"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, result.output
