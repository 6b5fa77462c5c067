"""The retrain loop on a trained survey: new labels trigger a round; ``kill -9`` loses nothing.

Each crash case runs a real worker process up to a crash point, kills it with SIGKILL, checks that
every label is still there and the previous model is still active with its queue, then lets a
fresh worker take the silent job over and finish it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import worker as worker_module
from app.config import Settings
from app.services.data import arrays as arrays_module
from app.services.loop.retrain import KIND
from app.services.loop.rounds import warm_floor
from app.worker import WorkerOptions, run_worker
from bayes.calibrated import CalibratedModel
from bayes.config import WARM_MIN_STEPS
from bayes.data import GalaxyArrays
from storage.db import session_scope
from storage.models import Galaxy, Job, Label, ModelVersion, QueueItem
from tests.worker.conftest import World, add_expert_labels, galactive

STALE = 2.0  # seconds of silence before a job is retried


def snapshot(settings: Settings) -> dict:
    """Labels, versions, the active one, pending queue and jobs, as plain values."""
    engine = settings.engine()
    with session_scope(engine) as session:
        out = {
            "labels": session.execute(
                select(Label.id, Label.galaxy_id, Label.class_index, Label.user_id).order_by(
                    Label.id
                )
            ).all(),
            "active": session.scalars(select(ModelVersion.id).where(ModelVersion.is_active)).all(),
            "versions": dict(session.execute(select(ModelVersion.id, ModelVersion.status)).all()),
            "queue": session.execute(
                select(
                    QueueItem.galaxy_id,
                    QueueItem.model_version_id,
                    QueueItem.priority,
                    QueueItem.queue,
                )
                .where(QueueItem.status == "pending")
                .order_by(QueueItem.id)
            ).all(),
            "jobs": session.execute(
                select(Job.id, Job.status, Job.attempts).order_by(Job.id)
            ).all(),
        }
    engine.dispose()
    return out


def start_worker(settings: Settings, point: str, marker: Path) -> subprocess.Popen:
    env = {**os.environ, "GALACTIVE_CRASH_POINT": point, "GALACTIVE_CRASH_MARKER": str(marker),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    code = "from app.cli import main; main()"
    args = ["--db", settings.db_url, "--home", str(settings.home), "worker", "--once",
            "--poll", "0.2", "--stale-after", str(STALE)]  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env)


@pytest.mark.parametrize("point", ["train", "score", "queues"])
def test_kill_9_keeps_labels_and_model_and_the_job_is_retried(
    world: World, tmp_path: Path, point: str
) -> None:
    settings = world.copy(tmp_path)
    galactive(settings, "retrain", "--epochs", "1")  # queue the first round: builds a queue
    run_worker(settings, WorkerOptions(once=True, stale_after=STALE))
    add_expert_labels(settings, 5, seed=1)
    galactive(settings, "retrain", "--epochs", "1")
    before = snapshot(settings)
    (old,) = before["active"]
    assert before["queue"] and {q[1] for q in before["queue"]} == {old}
    assert "label" in {q[3] for q in before["queue"]}

    marker = tmp_path / "reached"
    proc = start_worker(settings, point, marker)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, f"worker exited with {proc.returncode} before {point}"
        assert time.monotonic() < deadline, f"worker never reached {point}"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    killed = snapshot(settings)
    assert killed["labels"] == before["labels"]  # no label lost or changed
    assert killed["active"] == [old]  # the previous model stays active ...
    assert killed["queue"] == before["queue"]  # ... and its queue stands, untouched
    job_id, status, attempts = killed["jobs"][-1]
    assert (status, attempts) == ("running", 1)

    time.sleep(STALE + 0.5)  # the dead worker's heartbeat goes stale
    assert run_worker(settings, WorkerOptions(once=True, stale_after=STALE)) == 1
    after = snapshot(settings)
    assert after["labels"] == before["labels"]
    assert after["jobs"][-1] == (job_id, "succeeded", 2)
    (new,) = after["active"]
    assert new != old and after["versions"][new] == "ready"
    assert after["queue"] and {q[1] for q in after["queue"]} == {new}
    # Every pending item, label and follow-up alike, now comes from the new version.
    # A fit the kill interrupted is marked failed, never left "training"; others resume.
    abandoned = [v for v, s in after["versions"].items() if s == "failed"]
    assert len(abandoned) == (1 if point == "train" else 0)
    assert "training" not in after["versions"].values()


def test_worker_queues_a_retrain_once_enough_new_labels_arrive(
    world: World, tmp_path: Path
) -> None:
    settings = world.copy(tmp_path)
    options = WorkerOptions(once=True, stale_after=STALE, retrain_every=4, survey="mock")
    add_expert_labels(settings, 3, seed=2)
    assert run_worker(settings, options) == 0  # 3 new labels: not yet
    assert snapshot(settings)["jobs"] == []
    add_expert_labels(settings, 1, seed=3)
    assert run_worker(settings, options) == 1  # the 4th triggers a round, which runs
    after = snapshot(settings)
    assert [status for _, status, _ in after["jobs"]] == ["succeeded"]
    assert run_worker(settings, options) == 0  # the new version saw them all: quiet again


def test_a_round_keeps_its_parents_step_floor_up_to_the_warm_cap() -> None:
    assert warm_floor({"min_steps": 1700}, {}) == WARM_MIN_STEPS == 600
    assert warm_floor({"min_steps": 40}, {}) == 40
    assert warm_floor({}, {}) == 0  # a version from before the floor existed
    assert warm_floor({"min_steps": 1700}, {"min_steps": 7}) == 7  # the job's own wins


def test_a_round_runs_the_epochs_its_step_floor_asks_for(world: World, tmp_path: Path) -> None:
    settings = world.copy(tmp_path)
    galactive(settings, "retrain", "--epochs", "1", "--min-steps", "5")
    assert run_worker(settings, WorkerOptions(once=True, survey="mock")) == 1
    engine = settings.engine()
    with session_scope(engine) as session:
        version = session.scalars(select(ModelVersion).where(ModelVersion.is_active)).one()
        n_train, history = version.metrics["n_train"], version.metrics["loss_history"]
        floor = version.config["model"]["min_steps"]
    engine.dispose()
    # one minibatch of 32 holds every training galaxy, so 5 steps take 5 epochs, not 1
    assert n_train <= 32 and floor == 5 and len(history) == 5


def test_a_round_holds_its_resources_once(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world.copy(tmp_path)
    predicted: list[int] = []  # galaxies per CalibratedModel.predict(_latents) call
    calls = {"engine": 0, "load": 0, "refs": 0}
    predict, load, engine = CalibratedModel.predict, CalibratedModel.load, Settings.engine

    def counting_predict(self, arrays, **kwargs):
        if isinstance(arrays, GalaxyArrays):
            predicted.append(len(arrays))
            return predict(self, arrays, **kwargs)
        predicted.append(0)

        def counted():
            for batch in arrays:
                predicted[-1] += len(batch)
                yield batch

        return predict(self, counted(), **kwargs)

    def counting(name, original):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        return wrapper

    def counting_latents(self, latents, **kwargs):  # the scoring pass predicts from latents
        latents = list(latents)
        predicted.append(sum(len(batch) for batch in latents))
        return predict_latents(self, latents, **kwargs)

    predict_latents = CalibratedModel.predict_latents
    monkeypatch.setattr(CalibratedModel, "predict", counting_predict)
    monkeypatch.setattr(CalibratedModel, "predict_latents", counting_latents)
    monkeypatch.setattr(CalibratedModel, "load", counting("load", load))
    refs = arrays_module.survey_refs
    for module in list(sys.modules.values()):  # every module that imported survey_refs by name
        if getattr(module, "survey_refs", None) is refs:
            monkeypatch.setattr(module, "survey_refs", counting("refs", refs))
    round_ = worker_module.RUNNERS[KIND]

    def watched(settings, *args, **kwargs):  # count the engines the round itself opens
        monkeypatch.setattr(Settings, "engine", counting("engine", engine))
        try:
            return round_(settings, *args, **kwargs)
        finally:
            monkeypatch.setattr(Settings, "engine", engine)

    monkeypatch.setitem(worker_module.RUNNERS, KIND, watched)
    galactive(settings, "retrain", "--epochs", "1", "--min-steps", "0")
    assert run_worker(settings, WorkerOptions(once=True, survey="mock")) == 1
    engine_ = settings.engine()
    with session_scope(engine_) as session:
        n = session.scalar(select(func.count(Galaxy.id)))
        message = session.scalars(select(Job.message).order_by(Job.id.desc())).first()
    engine_.dispose()
    # the scores, the label queue and the follow-up plan (which ran: the job says what it
    # queued) share one prediction of the pool; the others are the validation split (the
    # activation decision) and the spectra reference (with and without them)
    assert "follow-up" in message and "active" in message, message
    assert [k for k in predicted if k > n // 2] == [n], predicted
    # one engine, one set of array references, and one load: the active version the round
    # starts from (the new one is used as fitted, never read back)
    assert calls == {"engine": 1, "load": 1, "refs": 1}, calls
