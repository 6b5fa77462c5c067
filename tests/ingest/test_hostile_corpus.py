"""Every broken or hostile corpus file (tests/ingest/hostile.py), fed to every ingest
subcommand: a clear error naming the file, under 10 s each, under 1 GB peak memory for all
of them together, and the database and array store exactly as they were."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from app.cli import app
from tests.ingest.hostile import CATALOG_MAP, CORPUS, build

PEAK_BYTES = 1 << 30


def test_every_hostile_file_is_refused_by_name_by_every_ingest(db_url: str, tmp_path: Path) -> None:
    assert len(CORPUS) >= 60
    home, corpus = tmp_path / "home", tmp_path / "corpus"
    build(corpus)
    good = tmp_path / "good.csv"  # a survey with data in it, so "unchanged" means something
    good.write_text("ID,RA,DEC,F_g,F_r,F_i,FERR\ng1,10,1,5,6,7,1\ng2,11,1,5,6,7,1\n")
    args = ["ingest", "catalog", str(good), "--survey", "hostile", "--map", CATALOG_MAP]
    seeded = CliRunner().invoke(app, ["--db", db_url, "--home", str(home), *args])
    assert seeded.exit_code == 0, seeded.output
    child = subprocess.run(
        [sys.executable, "-m", "tests.ingest.hostile_child", db_url, str(home), str(corpus)],
        capture_output=True, text=True, timeout=1200, check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "1000"},  # paths unwrapped
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    failures = []
    for r in report["results"]:
        name = r["file"]
        named = name in r["output"] or repr(name)[1:-1] in r["output"]
        if not (r["code"] == 2 and named and r["unchanged"] and r["seconds"] < 10):
            failures.append({k: (v[-300:] if isinstance(v, str) else v) for k, v in r.items()})
        if "uncaught" in r["output"] or "Traceback" in r["output"]:
            failures.append(r)
    assert not failures, "\n".join(
        f"{f['file']} {f['subcommand']} {f['code']} {f['seconds']:.1f}s {f['unchanged']}: "
        f"{f['output'][-200:]!r}"
        for f in failures
    )
    assert len(report["results"]) == 4 * len(CORPUS)
    raised = [r for before, r in itertools.pairwise([{"peak_bytes": 0}, *report["results"]])
              if r["peak_bytes"] > before["peak_bytes"] + 50 * 2**20]  # fmt: skip
    assert report["peak_bytes"] < PEAK_BYTES, [
        (r["file"], r["subcommand"], r["peak_bytes"] // 2**20) for r in raised
    ]
