"""A million-galaxy survey through the real code, repeated, on SQLite and PostgreSQL.

Each repeat starts from a fresh copy of a base home (a scored mock survey and its model
version; the PostgreSQL twin is a copy of a template database) and runs, timing each step:

1. ``galactive score`` of the base survey with one torch thread (the per-core baseline);
2. ``galactive ingest catalog`` of a large Parquet catalog (``bench/make_1m_catalog.py``);
3. ``galactive score`` of every galaxy (torch's default threads), peak RSS from ``time -v``;
4. switching the version and rebuilding its label queue from the stored scores, then
   submit → next-galaxy cycles of one labeler through ``app.services.loop.labeling``.

Prints the median over repeats per backend; ``--json`` keeps every run. Run from the repo root:

    .venv/bin/python -m bench.million_survey --sqlite-home /tmp/g20k \
        --pg-home /tmp/g20k_pg --pg-template g20k_base --catalog /tmp/big980k.parquet
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.services.loop.queues import activate
from bench.common import write_json
from bench.label_latency import PG_DEFAULT, _pg_admin, run_cycles
from storage.db import make_engine, session_scope
from storage.models import ModelVersion, Survey, Task, User

COLUMNS = "id=objid,ra=ra,dec=dec,units=nanomaggy," + ",".join(
    f"flux.{b}=flux_{b},flux_ivar.{b}=ivar_{b}" for b in "ugriz"
)


def galactive(home: Path, url: str, *args: str, threads: int | None = None) -> dict[str, float]:
    """Run one CLI command under ``/usr/bin/time -v``: wall seconds and peak RSS (GB)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", "from app.cli import main; main()",
           "--home", str(home), "--db", url, *args]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)[1])
    return {"seconds": wall, "peak_rss_gb": rss_kb / 1024**2}


def fresh_copy(backend: str, args: argparse.Namespace, work: Path) -> tuple[Path, str, str | None]:
    """(home, database URL, PostgreSQL database to drop) for one repeat."""
    base = Path(args.sqlite_home if backend == "sqlite" else args.pg_home)
    home = work / f"{backend}-{uuid.uuid4().hex[:8]}"
    # The array store is immutable per ingest, so hard links are a faithful, instant copy.
    subprocess.run(["cp", "-al", str(base), str(home)], check=True)
    # The base's scoring cached its latents: without them every score step runs the trunk.
    shutil.rmtree(home / "latents", ignore_errors=True)
    if backend == "sqlite":
        db = home / "galactive.db"
        db.unlink()
        shutil.copyfile(base / "galactive.db", db)
        return home, f"sqlite:///{db}", None
    name = f"galactive_million_{uuid.uuid4().hex[:8]}"
    _pg_admin(args.pg_url, f'CREATE DATABASE "{name}" TEMPLATE "{args.pg_template}"')
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    return home, url, name


def queue_and_label(url: str, survey: str, version: int, cycles: int) -> dict[str, float]:
    """Activate ``version`` (queue rebuilt from its scores), then timed label → next cycles."""
    engine = make_engine(url)
    try:
        start = time.perf_counter()
        with session_scope(engine) as session:
            activate(session, version)
        rebuild = time.perf_counter() - start
        with session_scope(engine) as session:
            task_id = session.scalar(
                select(Task.id)
                .join(Survey, Survey.id == Task.survey_id)
                .where(Survey.name == survey, Task.name == "morphology")
            )
            user = User(name=f"bench-{uuid.uuid4().hex[:6]}", role="labeler")
            session.add(user)
            session.flush()
            user_id = user.id
        run_cycles(engine, task_id, [user_id], cycles=20, seed=1)
        ms = run_cycles(engine, task_id, [user_id], cycles=cycles, seed=0)["total"]
    finally:
        engine.dispose()
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"queue_rebuild_s": rebuild, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}


def check_version(url: str, version_id: int) -> None:
    """Exit, before any step runs, unless ``version_id`` predicts morphology, the task whose
    label queue the labelling step times."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            version = session.get(ModelVersion, version_id)
            tasks = [] if version is None else [t["name"] for t in version.config["model"]["tasks"]]
    finally:
        engine.dispose()
    if "morphology" not in tasks:
        raise SystemExit(
            f"version {version_id} predicts {tasks or 'nothing (no such version)'}: the labelling "
            "step times the morphology queue; pass --version of one that predicts morphology"
        )


def one_repeat(backend: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every step on a fresh copy of the base survey; the copy is removed afterwards."""
    home, url, pg_name = fresh_copy(backend, args, work)
    version = ["--version", str(args.version)]
    try:
        out: dict[str, Any] = {}
        out["score_base"] = galactive(home, url, "score", *version, threads=1)
        print(f"  {backend}: score base {out['score_base']}", flush=True)
        out["ingest"] = galactive(home, url, "ingest", "catalog", args.catalog,
                                  "--survey", args.survey, "--map", COLUMNS)  # fmt: skip
        print(f"  {backend}: ingest {out['ingest']}", flush=True)
        out["score_all"] = galactive(home, url, "score", *version)
        print(f"  {backend}: score all {out['score_all']}", flush=True)
        out["label"] = queue_and_label(url, args.survey, args.version, args.cycles)
        return out
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if pg_name is not None:
            _pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def summary(runs: list[dict[str, Any]], base_n: int, catalog_n: int) -> dict[str, float]:
    """Medians over repeats, as rates where a rate reads better."""
    med = {
        (step, key): statistics.median(r[step][key] for r in runs)
        for step in ("score_base", "ingest", "score_all")
        for key in ("seconds", "peak_rss_gb")
    }
    label = {k: statistics.median(r["label"][k] for r in runs) for k in runs[0]["label"]}
    return {
        "score_base_s": med["score_base", "seconds"],
        "score_base_per_s_1thread": base_n / med["score_base", "seconds"],
        "ingest_s": med["ingest", "seconds"],
        "ingest_per_s": catalog_n / med["ingest", "seconds"],
        "ingest_peak_gb": med["ingest", "peak_rss_gb"],
        "score_all_s": med["score_all", "seconds"],
        "score_all_per_s": (base_n + catalog_n) / med["score_all", "seconds"],
        "score_all_peak_gb": med["score_all", "peak_rss_gb"],
        **label,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sqlite-home", help="base home whose galactive.db holds the survey")
    parser.add_argument("--pg-home", help="base home (arrays) of the PostgreSQL twin")
    parser.add_argument("--pg-template", help="PostgreSQL database holding the twin")
    parser.add_argument("--pg-url", default=os.environ.get("GALACTIVE_TEST_PG_URL", PG_DEFAULT))
    parser.add_argument("--catalog", required=True, help="Parquet from make_1m_catalog.py")
    parser.add_argument("--survey", default="mock")
    parser.add_argument("--version", type=int, default=2)
    parser.add_argument("--base-galaxies", type=int, default=20_000)
    parser.add_argument("--catalog-galaxies", type=int, default=980_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=150)
    parser.add_argument("--work", default="/tmp", help="where the per-repeat copies go")
    parser.add_argument("--json")
    a = parser.parse_args()
    backends = a.backends.split(",")
    if "sqlite" in backends:  # the labelling step needs the version's morphology queue
        check_version(f"sqlite:///{Path(a.sqlite_home) / 'galactive.db'}", a.version)
    runs: dict[str, list[dict[str, Any]]] = {b: [] for b in backends}
    for r in range(a.repeats):
        for backend in backends if r % 2 == 0 else backends[::-1]:
            runs[backend].append(one_repeat(backend, a, Path(a.work)))
            print(f"repeat {r} {backend}: {json.dumps(runs[backend][-1])}", flush=True)
    medians = {b: summary(runs[b], a.base_galaxies, a.catalog_galaxies) for b in backends}
    for backend, m in medians.items():
        print(f"\n{backend}, median of {a.repeats}:")
        for key, value in m.items():
            print(f"  {key:>26} {value:12.3f}")
    write_json(a.json, {"args": vars(a), "runs": runs, "median": medians})


if __name__ == "__main__":
    main()
