"""Server-side latency from pressing a class key to having the next galaxy: submit + next_galaxy.

Builds a throwaway database per backend at the newest schema: a survey of ``--galaxies``
galaxies (rows only, no images), a morphology task, ``--prior-labels`` earlier expert labels, a
model version and a ``--queue``-item label queue. ``--labelers`` labelers then take turns for
``--cycles`` cycles (overlap 2, so the queue does not run dry): each cycle submits an answer on
the labeler's lease and asks for their next galaxy, both through ``app.services.loop.labeling``,
each in its own transaction as the web app will. Prints p50/p95/p99 in ms per backend.

    .venv/bin/python bench/label_latency.py --backends sqlite,postgresql
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from app.services.loop import labeling
from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import Galaxy, Ingest, Label, ModelVersion, Survey, Task, User
from storage.queues import QueueEntry, replace_pending

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
CLASSES = ["elliptical", "spiral", "edge-on disk", "merger", "irregular", "artifact"]


def build_survey(
    engine: Engine, *, galaxies: int, queue: int, prior_labels: int, labelers: int, seed: int
) -> tuple[int, list[int]]:
    """Rows for the benchmark; (task id, labeler user ids)."""
    rng = np.random.default_rng(seed)
    with session_scope(engine) as session:
        survey = Survey(name="bench")
        session.add(survey)
        session.flush()
        ingest = Ingest(survey_id=survey.id, kind="bench", source="label_latency")
        task = Task(survey_id=survey.id, name="morphology", kind="classification", classes=CLASSES)
        version = ModelVersion(survey_id=survey.id, name="bench", status="ready", is_active=True)
        users = [User(name=f"labeler{i}", role="labeler") for i in range(labelers + 1)]
        session.add_all([ingest, task, version, *users])
        session.flush()
        ra, dec = rng.uniform(0, 360, galaxies), rng.uniform(-10, 70, galaxies)
        session.execute(
            insert(Galaxy),
            [
                {
                    "survey_id": survey.id,
                    "source_id": f"G{i:08d}",
                    "ra": float(ra[i]),
                    "dec": float(dec[i]),
                    "ref_mag": 17.0,
                    "ref_band": "r",
                    "ingest_id": ingest.id,
                }
                for i in range(galaxies)
            ],
        )
        ids = session.scalars(select(Galaxy.id).where(Galaxy.survey_id == survey.id)).all()
        picked = rng.permutation(np.array(ids))
        earlier, queued = picked[:prior_labels], picked[prior_labels : prior_labels + queue]
        session.execute(
            insert(Label),
            [
                {
                    "task_id": task.id,
                    "galaxy_id": int(g),
                    "source": "expert",
                    "status": "answer",
                    "class_index": int(rng.integers(len(CLASSES))),
                    "user_id": users[-1].id,
                }
                for g in earlier
            ],
        )
        scores = rng.gamma(1.0, 0.1, len(queued))
        entries = [
            QueueEntry(
                galaxy_id=int(g),
                priority=float(len(queued) - k),
                acquisition="power_bald",
                acquisition_score=float(s),
            )
            for k, (g, s) in enumerate(zip(queued, scores, strict=True))
        ]
        replace_pending(
            session, queue="label", task_id=task.id, model_version_id=version.id, entries=entries
        )
        return task.id, [u.id for u in users[:labelers]]


def run_cycles(
    engine: Engine, task_id: int, users: list[int], *, cycles: int, seed: int
) -> dict[str, list[float]]:
    """Latencies (ms) of submit, next_galaxy and both, over ``cycles`` label-then-next cycles."""
    rng = np.random.default_rng(seed)
    shown = {u: labeling.next_galaxy(engine, u, task_id, overlap=2) for u in users}
    out: dict[str, list[float]] = {"submit": [], "next": [], "total": []}
    for k in range(cycles):
        user = users[k % len(users)]
        assignment = shown[user]
        if assignment is None:
            raise RuntimeError(f"queue ran dry after {k} cycles: use a bigger --queue")
        t0 = time.perf_counter()
        labeling.submit(
            engine,
            user,
            assignment.lease_id,
            status="answer",
            class_index=int(rng.integers(len(CLASSES))),
            idempotency_key=uuid.uuid4().hex,
        )
        t1 = time.perf_counter()
        shown[user] = labeling.next_galaxy(engine, user, task_id, overlap=2)
        t2 = time.perf_counter()
        out["submit"].append(1e3 * (t1 - t0))
        out["next"].append(1e3 * (t2 - t1))
        out["total"].append(1e3 * (t2 - t0))
    return out


def percentiles(ms: list[float]) -> str:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"{p50:7.2f} {p95:7.2f} {p99:7.2f}  (mean {statistics.fmean(ms):.2f})"


def fresh_database(backend: str, workdir: Path, pg_url: str) -> tuple[str, str | None]:
    """(URL of a new empty database, PostgreSQL database name to drop afterwards or None)."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", None
    name = f"galactive_bench_{uuid.uuid4().hex[:10]}"
    _pg_admin(pg_url, f'CREATE DATABASE "{name}"')
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False), name


def _pg_admin(pg_url: str, sql: str) -> None:
    url = make_url(pg_url).set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(sql))
    admin.dispose()


def bench(backend: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url, pg_name = fresh_database(backend, Path(tmp), args.pg_url)
        try:
            migrate.upgrade(url)
            engine = make_engine(url)
            t = time.perf_counter()
            task_id, users = build_survey(
                engine,
                galaxies=args.galaxies,
                queue=args.queue,
                prior_labels=args.prior_labels,
                labelers=args.labelers,
                seed=args.seed,
            )
            built = time.perf_counter() - t
            run_cycles(engine, task_id, users, cycles=args.warmup, seed=args.seed + 1)
            ms = run_cycles(engine, task_id, users, cycles=args.cycles, seed=args.seed)
            engine.dispose()
        finally:
            if pg_name is not None:
                _pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    print(
        f"\n{backend}: {args.galaxies} galaxies, {args.queue}-item queue, "
        f"{args.prior_labels} earlier labels (built in {built:.1f} s); "
        f"{args.cycles} cycles after {args.warmup} warm-up"
    )
    print(f"{'ms':>14}     p50     p95     p99")
    for key, label in (("submit", "submit"), ("next", "next_galaxy"), ("total", "submit+next")):
        print(f"{label:>14} {percentiles(ms[key])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("GALACTIVE_TEST_PG_URL", PG_DEFAULT))
    parser.add_argument("--galaxies", type=int, default=20_000)
    parser.add_argument("--queue", type=int, default=200)
    parser.add_argument("--prior-labels", type=int, default=2_000)
    parser.add_argument("--labelers", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.prior_labels + args.queue > args.galaxies:
        parser.error("--prior-labels plus --queue must not exceed --galaxies")
    print(f"label -> next galaxy latency, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    for backend in args.backends.split(","):
        bench(backend, args)


if __name__ == "__main__":
    main()
