"""An ingest killed (SIGKILL) at any point leaves no orphan behind the next ingest or init."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from sqlalchemy import select
from typer.testing import CliRunner, Result

from app.cli import app
from storage.arrays import ArrayStore, ArrayWriter
from storage.db import make_engine, session_scope
from storage.models import Base, Ingest
from storage.store_check import check

# Runs `galactive` in a child that SIGKILLs itself at one point of the ingest.
CHILD = """
import os, signal, sys
from storage import arrays, db

point = sys.argv[1]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if point == "writing":  # arrays half written to the .partial file
    append = arrays.ArrayWriter._append
    def _append(self, *a, **k):
        first = append(self, *a, **k)
        self._file.flush()
        die()
    arrays.ArrayWriter._append = _append
elif point == "published":  # just after the publish rename, before the database commit
    commit = arrays.ArrayWriter.commit
    arrays.ArrayWriter.commit = lambda self: (commit(self), die())
elif point == "committed":  # database committed, lock not yet released
    arrays.ArrayWriter.release = lambda self: die()
from app.cli import app
app(sys.argv[2:], prog_name="galactive")
"""


def catalog(path: Path, n: int, first: int) -> Path:
    rng = np.random.default_rng(first)
    Table(
        {
            "ID": [f"g{first + i}" for i in range(n)],
            "RA": rng.uniform(0, 10, n),
            "DEC": rng.uniform(0, 10, n),
            "F": rng.uniform(10, 100, (n, 3)),
            "FERR": np.full((n, 3), 1.0),
        }
    ).write(path, overwrite=True)
    return path


def killed(home: Path, point: str, *args: str) -> subprocess.CompletedProcess:
    """``galactive ARGS`` in a child process that SIGKILLs itself at ``point``."""
    env = {**os.environ, "GALACTIVE_HOME": str(home)}
    env.pop("GALACTIVE_DB", None)
    command = [sys.executable, "-c", CHILD, point, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def run(home: Path, *args: str) -> Result:
    """``galactive --home HOME ARGS`` in this process (SQLite under HOME)."""
    return CliRunner().invoke(app, ["--home", str(home), *args], env={"GALACTIVE_DB": None})


def ingest_args(path: Path) -> list[str]:
    spec = "id=ID,ra=RA,dec=DEC,flux=F[g,r,i],flux_err=FERR"
    return ["ingest", "catalog", str(path), "--survey", "s", "--map", spec]


def files(home: Path) -> set[str]:
    return {p.name for p in (home / "arrays").iterdir()}


def referenced(home: Path) -> set[str]:
    engine = make_engine(f"sqlite:///{home / 'galactive.db'}")
    try:
        with session_scope(engine) as session:
            return set(session.scalars(select(Ingest.array_file)))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("point", "then"),
    [("writing", "ingest"), ("published", "init"), ("published", "ingest"), ("committed", "init")],
)
def test_a_killed_ingest_leaves_nothing_after_the_next_run(tmp_path, point, then):
    home = tmp_path / "home"
    first = run(home, *ingest_args(catalog(tmp_path / "a.fits", 20, 0)))
    assert first.exit_code == 0, first.output
    before = files(home)
    child = killed(home, point, *ingest_args(catalog(tmp_path / "b.fits", 20, 100)))
    assert child.returncode == -9, child.stderr
    assert files(home) - before, "the kill point should leave something behind"
    nxt = (
        run(home, "init")
        if then == "init"
        else run(home, *ingest_args(catalog(tmp_path / "c.fits", 20, 200)))
    )
    assert nxt.exit_code == 0, nxt.output
    assert files(home) == {f for f in referenced(home) if f}  # no .partial, no .lock, no orphan .h5
    if point == "committed":  # the database had committed: its file is kept and served
        assert len(referenced(home)) == (3 if then == "ingest" else 2)
    check_run = run(home, "check-store")
    assert check_run.exit_code == 0 and "agree" in check_run.output


def test_check_store_reports_then_repairs(tmp_path):
    home = tmp_path / "home"
    assert run(home, *ingest_args(catalog(tmp_path / "a.fits", 10, 0))).exit_code == 0
    arrays = home / "arrays"
    (arrays / "dead.h5.partial").write_bytes(b"x")
    (arrays / "dead.lock").write_bytes(b"")
    (arrays / "stray.h5").write_bytes(b"y")
    named = next(iter(referenced(home)))
    (arrays / named).rename(tmp_path / "moved.h5")
    report = run(home, "check-store")
    assert report.exit_code == 1
    for line in ("orphan: dead.h5.partial", "orphan: stray.h5", f"missing: {named}"):
        assert line in report.output
    assert (arrays / "stray.h5").exists()  # a check alone changes nothing
    repaired = run(home, "check-store", "--repair")
    assert "removed 2 orphan file(s)" in repaired.output
    assert files(home) == set() and repaired.exit_code == 1  # the missing file stays missing


def test_a_sweep_never_touches_a_live_ingest(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    store = ArrayStore(tmp_path / "arrays")
    writer = ArrayWriter(store.root)
    writer.append_photometry(["g"], np.ones((3, 1)), np.ones((3, 1)))
    assert check(engine, store, repair=True).live == [Path(writer._partial).name]
    writer.commit()  # published, not yet committed in the database: still live
    assert check(engine, store, repair=True).live == [writer.name]
    assert writer.path.exists()
    writer.release()  # the ingest ended without a database row: now an orphan
    report = check(engine, store, repair=True)
    assert report.removed == [writer.name] and not any(store.root.iterdir())
    engine.dispose()
