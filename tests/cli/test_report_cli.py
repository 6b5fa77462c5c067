"""``galactive report --out FILE`` on SQLite and PostgreSQL: one self-contained HTML file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from tests.databases import Databases
from tests.web.conftest import build_site
from tests.worker.conftest import World

runner = CliRunner()


@pytest.fixture(scope="module")
def site(backend_dbs: Databases, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_site(backend_dbs, tmp_path_factory.mktemp("report_site"))


def test_report_writes_one_self_contained_html_file(site: World, tmp_path: Path) -> None:
    settings = site.copy(tmp_path)
    out = tmp_path / "out" / "report.html"
    args = ["--db", settings.db_url, "--home", str(settings.home), "report", "--out", str(out)]
    result = runner.invoke(app, [*args, "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert f"report on mock written to {out}" in result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "mock-v2" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert page.count('src="data:image/png;base64,') == 6  # with coverage at every level


def test_report_on_a_survey_without_a_model_fails_cleanly(site: World, tmp_path: Path) -> None:
    settings = site.copy(tmp_path)
    out = tmp_path / "report.html"
    args = ["--db", settings.db_url, "--home", str(settings.home), "report", "--out", str(out)]
    result = runner.invoke(app, [*args, "--survey", "nope"])
    assert result.exit_code == 2 and "error:" in result.output
    assert not out.exists()
