"""A version left ``training`` by a killed fit is marked failed once its process is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from sqlalchemy import Engine

from app.services.models.admin import versions
from app.services.models.versions import fail_orphans, process_owner
from storage.db import session_scope
from storage.models import ModelVersion, Survey


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_only_versions_of_gone_local_processes_are_failed(engine: Engine) -> None:
    host = socket.gethostname()
    owners = {
        "killed here": f"{host}:{_dead_pid()}",
        "alive here": process_owner(),
        "other host": f"not-{host}:{_dead_pid()}",
        "no owner": None,
    }
    with session_scope(engine) as session:
        survey = Survey(name="s")
        session.add(survey)
        session.flush()
        rows = {
            name: ModelVersion(survey_id=survey.id, name=name, status="training",
                               config={"owner": owner} if owner else {})
            for name, owner in owners.items()
        }  # fmt: skip
        done = ModelVersion(survey_id=survey.id, name="done", status="ready",
                            config={"owner": owners["killed here"]})  # fmt: skip
        session.add_all([*rows.values(), done])
        session.flush()
        ids = {name: v.id for name, v in rows.items()} | {"done": done.id}
    assert fail_orphans(engine) == [ids["killed here"]]
    with session_scope(engine) as session:
        status = {name: session.get(ModelVersion, i).status for name, i in ids.items()}
    assert status == {"killed here": "failed", "alive here": "training",
                      "other host": "training", "no owner": "training",
                      "done": "ready"}  # fmt: skip
    assert fail_orphans(engine) == []  # idempotent


def test_process_owner_names_this_process() -> None:
    assert process_owner() == f"{socket.gethostname()}:{os.getpid()}"


def test_a_version_says_which_encoder_it_started_from(engine: Engine) -> None:
    with session_scope(engine) as session:
        survey = Survey(name="s")
        session.add(survey)
        session.flush()
        started = {"path": "/home/encoders/s/v3", "update": "probe"}
        session.add_all([
            ModelVersion(survey_id=survey.id, name="plain", status="ready",
                         config={"round": {"kind": "full"}}),
            ModelVersion(survey_id=survey.id, name="pretrained", status="ready",
                         config={"round": {"kind": "full"}, "encoder": started}),
        ])  # fmt: skip
    with session_scope(engine) as session:
        fits = {row.name: row.fit for row in versions(session, "s")}
    assert fits == {"plain": "full", "pretrained": "full, from encoder v3 (probe)"}
