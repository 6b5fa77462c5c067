"""A heads-only retrain round against a full one: time from new labels to the next queue, and
how far their queues agree.

Works on a copy of a mock survey's home (SQLite). It reveals the simulated expert's morphology
answers for ``--labels`` galaxies, fits the first version on them and activates it, scores the
pool with the latent cache on (what the round before would have left), then reveals
``--new`` more. From that state, restored before every arm, ``--repeats`` times with the
order alternating, it runs one retrain job in process (``run_worker(once=True)``: fit,
scoring of the whole pool, tonight's follow-up plan, activation and both queues rebuilt):

- **full**: ``--round full`` (trunk and heads, the warm update; the pool through the trunk);
- **heads**: ``--round heads`` (the heads refitted on the kept trunk's latents; the pool
  rescored from the cached latents).

Prints median seconds per arm and stage, and the Spearman rank correlation of each task's
acquisition score (BALD; information gain for a regression) over the pool between the two
arms' versions, and between the previous version and the full round's (how far a full round
moves the ranking at all). ``--reseeded`` adds a third arm, the full round with another fit
seed, so the heads-vs-full agreement can be read against full-vs-full. Run from the repo root:

    .venv/bin/python -m bench.round_kinds --home /tmp/g20k --labels 1000 --new 100 --repeats 3
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
import torch
from scipy.stats import spearmanr
from sqlalchemy import select

from app.config import resolve
from app.services.loop.queues import activate
from app.services.loop.scoring import ACQUISITION, score_pool
from app.services.models.new_version import train
from bayes.config import EPOCHS, MIN_STEPS
from bench import retrain_round
from bench.common import machine, write_json
from bench.retrain_round import reveal
from storage.db import session_scope
from storage.models import Job, ModelVersion, Score, Task


def timed_round(settings: Any, survey: str, kind: str) -> tuple[dict[str, float], str, int]:
    """One retrain job of ``kind`` run to completion: (seconds per stage, message, version)."""
    stages = retrain_round.timed_round(settings, survey, kind)
    engine = settings.engine()
    with session_scope(engine) as session:
        version = session.scalar(select(ModelVersion.id).where(ModelVersion.is_active))
        message = session.scalars(select(Job.message).order_by(Job.id.desc())).first()
    engine.dispose()
    return stages, message, version


def reseed(settings: Any, seed: int) -> None:
    """Give the active version's config another fit seed (a round inherits it)."""
    engine = settings.engine()
    with session_scope(engine) as session:
        version = session.scalars(select(ModelVersion).where(ModelVersion.is_active)).one()
        version.config = {**version.config, "model": {**version.config["model"], "seed": seed}}
    engine.dispose()


def scores(settings: Any, version_id: int) -> dict[str, dict[int, float]]:
    """{task: {galaxy id: acquisition score}} of a version."""
    engine = settings.engine()
    with session_scope(engine) as session:
        rows = session.execute(
            select(Task.name, Score.galaxy_id, Score.value)
            .join(Task, Task.id == Score.task_id)
            .where(Score.model_version_id == version_id, Score.acquisition == ACQUISITION)
        ).all()
    engine.dispose()
    out: dict[str, dict[int, float]] = {}
    for task, galaxy, value in rows:
        out.setdefault(task, {})[galaxy] = value
    return out


def rank_agreement(a: dict[str, dict[int, float]], b: dict[str, dict[int, float]]) -> dict:
    """Spearman correlation per task over the galaxies both score."""
    out = {}
    for task in sorted(set(a) & set(b)):
        ids = sorted(set(a[task]) & set(b[task]))
        x, y = (np.array([s[task][g] for g in ids]) for s in (a, b))
        out[task] = float(spearmanr(x, y).statistic)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, help="a mock survey's home (left untouched)")
    parser.add_argument("--survey", default="mock")
    parser.add_argument("--labels", type=int, default=1000, help="labels of the first version")
    parser.add_argument("--new", type=int, default=100, help="labels that arrive before the round")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reseeded", action="store_true", help="add a full round, fit seed + 1")
    parser.add_argument("--json")
    a = parser.parse_args()
    work = Path("/tmp") / f"round-kinds-{uuid.uuid4().hex[:8]}"
    subprocess.run(["cp", "-al", a.home, str(work)], check=True)  # arrays: immutable per ingest
    (work / "galactive.db").unlink()
    shutil.copyfile(Path(a.home) / "galactive.db", work / "galactive.db")
    settings = resolve(f"sqlite:///{work / 'galactive.db'}", str(work))  # never GALACTIVE_DB
    arms = ("full", "heads", "reseeded") if a.reseeded else ("full", "heads")
    runs: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}
    agreement, moved, reseeded, messages = [], [], [], {}
    try:
        reveal(settings, a.survey, a.labels, a.seed)
        began = time.perf_counter()
        first = train(
            settings, a.survey, source="labels", epochs=EPOCHS, min_steps=MIN_STEPS
        ).version_id
        engine = settings.engine()
        with session_scope(engine) as session:
            activate(session, first)
        score_pool(engine, settings.store(), settings.home, first, cache=settings.latents())
        engine.dispose()
        print(f"first version {first}: fitted and scored in {time.perf_counter() - began:.0f} s")
        before = scores(settings, first)
        labels = reveal(settings, a.survey, a.labels + a.new, a.seed)
        snapshot = work / "snapshot"
        snapshot.mkdir()
        for part in ("galactive.db", "latents", "models"):
            subprocess.run(["cp", "-a", str(work / part), str(snapshot / part)], check=True)
        for r in range(a.repeats):
            made = {}
            for kind in arms if r % 2 == 0 else arms[::-1]:
                for part in ("galactive.db", "latents", "models"):  # the same state each arm
                    target = work / part
                    shutil.rmtree(target) if target.is_dir() else target.unlink()
                    subprocess.run(["cp", "-a", str(snapshot / part), str(target)], check=True)
                if kind == "reseeded":
                    reseed(settings, 1)
                stages, message, version = timed_round(
                    settings, a.survey, "full" if kind == "reseeded" else kind
                )
                runs[kind].append(stages)
                made[kind] = scores(settings, version)
                messages[kind] = message
                print(f"repeat {r}, {kind}: {stages}\n  {message}", flush=True)
            agreement.append(rank_agreement(made["heads"], made["full"]))
            moved.append(rank_agreement(before, made["full"]))
            if a.reseeded:
                reseeded.append(rank_agreement(made["reseeded"], made["full"]))
            print(f"  heads vs full {agreement[-1]}; previous vs full {moved[-1]}; "
                  f"full vs reseeded full {reseeded[-1:]}", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median = {k: {s: statistics.median(x[s] for x in v) for s in v[0]} for k, v in runs.items()}
    print(f"\n{labels} labels ({a.new} new), medians of {a.repeats}, seconds:")
    print("| round | fit | scoring | follow-up plan + switch | total |")
    print("|---|---:|---:|---:|---:|")
    for kind, m in median.items():
        print(f"| {kind} | {m['train']:.1f} | {m['score']:.1f} | "
              f"{m['plan_and_activate']:.1f} | {m['total']:.1f} |")  # fmt: skip
    print(f"heads ÷ full: {median['heads']['total'] / median['full']['total']:.2f}")
    print(f"rank agreement heads vs full: {agreement}; previous vs full: {moved}; "
          f"full vs reseeded full: {reseeded}")  # fmt: skip
    write_json(
        a.json,
        {"args": vars(a), "machine": machine(torch.get_num_threads()), "labels": labels,
         "runs": runs, "median": median, "agreement": agreement, "previous_vs_full": moved,
         "reseeded_vs_full": reseeded, "messages": messages},
    )  # fmt: skip


if __name__ == "__main__":
    main()
