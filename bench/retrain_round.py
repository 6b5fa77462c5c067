"""Retrain-round time against labelled-set size, and a fit from scratch as the baseline.

Works on a copy of a mock survey's home (SQLite). For each labelled-set size (cumulative, in
increasing order) it reveals the simulated expert's morphology answers for more galaxies as
labels, then, ``--repeats`` times with the order alternating:

- **round**: ``galactive retrain`` + one worker pass, in process — the warm-started update
  from the active version, scoring of the whole pool, tonight's follow-up plan, and the
  activation with both queues rebuilt; each stage is timed from the job's progress messages;
- **scratch**: ``galactive train --labels`` with the full epochs (the update's alternative).

Fits from scratch take ``--min-steps`` optimiser steps at least (the CLI's default), so a round
inherits the product's warm floor (``app.services.loop.rounds.warm_floor``).

Prints median seconds per size and the ratio of the round's training to the scratch fit.
Run from the repo root:

    .venv/bin/python -m bench.retrain_round --home /tmp/g20k --sizes 250,1000,4000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, select

from app.config import resolve
from app.services.loop.queues import activate
from app.services.loop.retrain import request_retrain
from app.services.models.new_version import train
from app.worker import WorkerOptions, run_worker
from bayes.config import MIN_STEPS
from bench.common import write_json
from storage.db import session_scope
from storage.models import Label, Survey, Task, Truth

STAGES = {"trained": "train", "scores written": "score"}  # message prefix -> stage it ends


def reveal(settings: Any, survey: str, total: int, seed: int) -> int:
    """Add simulated-expert morphology labels until ``total`` galaxies have one; the count."""
    engine = settings.engine()
    try:
        with session_scope(engine) as session:
            task_id = session.scalar(
                select(Task.id).join(Survey).where(Survey.name == survey, Task.name == "morphology")
            )
            answers = dict(
                session.execute(
                    select(Truth.galaxy_id, Truth.class_index).where(
                        Truth.task_id == task_id, Truth.kind == "simulated_expert"
                    )
                ).all()
            )
            have = set(session.scalars(select(Label.galaxy_id).where(Label.task_id == task_id)))
            # A fixed permutation, so every size's set contains the smaller ones.
            order = np.random.default_rng(seed).permutation(sorted(answers))
            todo = [int(g) for g in order if g not in have][: max(0, total - len(have))]
            if todo:
                rows = [{"task_id": task_id, "galaxy_id": g, "source": "oracle",
                         "status": "answer", "class_index": answers[g]} for g in todo]  # fmt: skip
                session.execute(insert(Label), rows)
            return len(have) + len(todo)
    finally:
        engine.dispose()


def timed_round(settings: Any, survey: str, kind: str | None = None) -> dict[str, float]:
    """One retrain job (``kind``: "heads", "full", None for auto) run to completion by an
    in-process worker; seconds per stage."""
    engine = settings.engine()
    with session_scope(engine) as session:
        request_retrain(session, survey, round=kind)
    engine.dispose()
    marks: dict[str, float] = {}
    start = time.perf_counter()

    def progress(_job: int, _p: float, message: str) -> None:
        for prefix, stage in STAGES.items():
            if message.startswith(prefix) and stage not in marks:
                marks[stage] = time.perf_counter()

    if run_worker(settings, WorkerOptions(once=True, survey=survey), on_progress=progress) != 1:
        raise RuntimeError("the retrain job did not succeed; see `galactive status`")
    end = time.perf_counter()
    return {
        "train": marks["train"] - start,
        "score": marks["score"] - marks["train"],
        "plan_and_activate": end - marks["score"],
        "total": end - start,
    }


def timed_scratch(settings: Any, survey: str, epochs: int, min_steps: int) -> float:
    """Seconds of a from-scratch fit on the current labels (a version that is not activated)."""
    start = time.perf_counter()
    train(settings, survey, source="labels", epochs=epochs, min_steps=min_steps)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, help="a mock survey's home (left untouched)")
    parser.add_argument("--survey", default="mock")
    parser.add_argument("--sizes", default="250,1000,4000")
    parser.add_argument(
        "--epochs", type=int, default=15,
        help="scratch fits; a round trains max(3, a third of the active version's epochs), "
        "raised to its step floor",
    )  # fmt: skip
    parser.add_argument("--min-steps", type=int, default=MIN_STEPS, help="floor of a scratch fit")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    a = parser.parse_args()
    sizes = sorted(int(s) for s in a.sizes.split(","))
    work = Path("/tmp") / f"retrain-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["cp", "-al", a.home, str(work)], check=True)  # arrays: immutable per ingest
    (work / "galactive.db").unlink()
    shutil.copyfile(Path(a.home) / "galactive.db", work / "galactive.db")
    settings = resolve(f"sqlite:///{work / 'galactive.db'}", str(work))  # never GALACTIVE_DB
    results: list[dict[str, Any]] = []
    try:
        for size in sizes:
            labels = reveal(settings, a.survey, size, a.seed)
            if not results:  # the first version the rounds update, trained on labels
                first = train(
                    settings, a.survey, source="labels", epochs=a.epochs, min_steps=a.min_steps
                ).version_id
                engine = settings.engine()
                with session_scope(engine) as session:
                    activate(session, first)
                engine.dispose()
            rounds, scratch = [], []
            for r in range(a.repeats):
                for step in ("round", "scratch") if r % 2 == 0 else ("scratch", "round"):
                    if step == "round":
                        rounds.append(timed_round(settings, a.survey))
                    else:
                        scratch.append(timed_scratch(settings, a.survey, a.epochs, a.min_steps))
                    last = rounds[-1] if step == "round" else scratch[-1]
                    print(f"{labels} labels, repeat {r}: {step} {last}", flush=True)
            median = {k: statistics.median(x[k] for x in rounds) for k in rounds[0]}
            results.append(
                {
                    "labels": labels,
                    "rounds": rounds,
                    "scratch": scratch,
                    "median": median,
                    "scratch_median": statistics.median(scratch),
                }
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| morphology labels | round: train | score | plan + activate | total | scratch fit "
          "| round train ÷ scratch |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for res in results:
        m = res["median"]
        print(f"| {res['labels']} | {m['train']:.1f} | {m['score']:.1f} | "
              f"{m['plan_and_activate']:.1f} | {m['total']:.1f} | {res['scratch_median']:.1f} | "
              f"{m['train'] / res['scratch_median']:.2f} |")  # fmt: skip
    write_json(a.json, {"args": vars(a), "results": results})


if __name__ == "__main__":
    main()
