"""`galactive mock` through the real ingest path, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app
from storage.arrays import ArrayStore, RowRef
from storage.db import make_engine, session_scope
from storage.models import Galaxy, ImageCutout, Ingest, Task, Truth

runner = CliRunner()
N = 24


def _mock(db_url: str, home: Path, *extra: str) -> None:
    result = runner.invoke(
        app,
        ["--db", db_url, "--home", str(home), "mock", "--n", str(N), "--seed", "7", "--workers",
         "1", *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def _survey(db_url: str, home: Path) -> tuple[np.ndarray, list[tuple[str, str, float]]]:
    """All pixels in galaxy order, and every truth value, read back from storage."""
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        rows = session.execute(
            select(Ingest.array_file, ImageCutout.dataset, ImageCutout.row)
            .join(Galaxy, Galaxy.id == ImageCutout.galaxy_id)
            .join(Ingest, Ingest.id == ImageCutout.ingest_id)
            .order_by(Galaxy.source_id)
        ).all()
        truth = session.execute(
            select(Galaxy.source_id, Task.name, Truth.value)
            .join(Truth, Truth.galaxy_id == Galaxy.id)
            .join(Task, Task.id == Truth.task_id)
            .order_by(Galaxy.source_id, Task.name, Truth.kind)
        ).all()
    engine.dispose()
    pixels = ArrayStore(home / "arrays").read_rows([RowRef(*r) for r in rows], "pixels")
    return pixels, [tuple(t) for t in truth]


def test_mock_status_and_same_seed_same_survey(db_url: str, tmp_path: Path) -> None:
    _mock(db_url, tmp_path / "a")
    result = runner.invoke(app, ["--db", db_url, "--home", str(tmp_path / "a"), "status", "--json"])
    (survey,) = json.loads(result.output)["surveys"]
    assert survey["galaxies"] == N
    assert survey["modalities"]["image_layouts"] == {"u-g-r-i-z_64x64": N}
    assert survey["modalities"]["photometry"] == N
    for task in ("morphology", "redshift", "sfr"):
        assert survey["tasks"][task]["truth"] == N
    assert survey["tasks"]["morphology"]["simulated_expert"] == N
    spectra = survey["modalities"]["spectra"]
    assert survey["tasks"]["redshift"]["labels"].get("spectroscopy", 0) == spectra

    # The same seed into a second, SQLite database gives the same survey, bit for bit.
    other = f"sqlite:///{tmp_path / 'b.db'}"
    _mock(other, tmp_path / "b")
    pixels_a, truth_a = _survey(db_url, tmp_path / "a")
    pixels_b, truth_b = _survey(other, tmp_path / "b")
    np.testing.assert_array_equal(pixels_a, pixels_b)
    assert truth_a == truth_b


def test_skip_existing_makes_the_demo_rerunnable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    _mock(url, tmp_path)
    result = runner.invoke(
        app, ["--db", url, "--home", str(tmp_path), "mock", "--n", "5", "--skip-existing"]
    )
    assert result.exit_code == 0 and "already exists; skipping" in result.output
    result = runner.invoke(app, ["--db", url, "--home", str(tmp_path), "mock", "--n", "5"])
    assert result.exit_code == 2 and "already in survey 'mock'" in result.output
