"""Model versions: load one, find and switch the active one, fail the ones that never finish.

A version is a row (``storage.models.ModelVersion``) and a checkpoint of a
:class:`bayes.calibrated.CalibratedModel`. :func:`switch_active` is the one path by which a
version becomes active (the first healthy fit, ``galactive model activate``, a retrain round).
Each ``training`` version records the process fitting it (``host:pid``); a killed
``galactive train`` cannot mark its own row, so the next fit or worker marks it failed once
its process is gone (:func:`fail_orphans`). A fit that raised is marked failed at once.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from bayes.calibrated import CalibratedModel
from storage.db import session_scope
from storage.models import ModelVersion, Survey


@dataclass(frozen=True)
class LoadedVersion:
    """A model version ready to predict: its row's facts and its calibrated model."""

    id: int
    name: str
    split_seed: int
    model: CalibratedModel


def load_version(home: Path, checkpoint_path: str) -> CalibratedModel:
    """A recorded version's calibrated model; ``checkpoint_path`` is relative to home."""
    return CalibratedModel.load(Path(home) / checkpoint_path)


def active_id(session: Session, survey_id: int) -> int | None:
    """The id of the survey's active version, if any."""
    return session.scalar(
        select(ModelVersion.id).where(
            ModelVersion.survey_id == survey_id, ModelVersion.is_active.is_(True)
        )
    )


def version_name(session: Session, version_id: int | None) -> str | None:
    """The name of version ``version_id`` (None for no version or an unknown one)."""
    version = session.get(ModelVersion, version_id) if version_id is not None else None
    return version.name if version is not None else None


def load_model_version(
    home: Path, session: Session, survey_id: int, version_id: int | None = None
) -> LoadedVersion:
    """Version ``version_id`` of the survey (default: its active one), loaded from disk."""
    if version_id is None:
        version_id = active_id(session, survey_id)
        if version_id is None:
            raise ValueError("the survey has no active model version: run `galactive train`")
    version = session.get(ModelVersion, version_id)
    if version is None or version.survey_id != survey_id:
        raise ValueError(f"model version {version_id} does not belong to this survey")
    if version.status != "ready" or version.checkpoint is None:
        raise ValueError(f"model version {version.id} is {version.status}, not ready")
    model = load_version(home, version.checkpoint)
    split_seed = int((version.config or {}).get("split_seed", 0))
    return LoadedVersion(version.id, version.name, split_seed, model)


def switch_active(session: Session, version_id: int) -> ModelVersion:
    """Make ``version_id`` its survey's only active version, in the caller's transaction.

    Refuses a version that is not ready or failed its health checks. The survey's row is
    locked first, so two switches (or two first fits) cannot both leave a version active.
    """
    version = session.get(ModelVersion, version_id)
    if version is None or version.status != "ready":
        raise ValueError(f"model version {version_id} is not ready")
    fit_health = (version.metrics or {}).get("health")
    if fit_health is not None and not fit_health["ok"]:
        failed = "; ".join(c["detail"] for c in fit_health["checks"] if not c["ok"])
        raise ValueError(f"model version {version.name} failed its health checks: {failed}")
    session.execute(select(Survey.id).where(Survey.id == version.survey_id).with_for_update())
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.survey_id == version.survey_id, ModelVersion.id != version_id)
        .values(is_active=False)
    )
    version.is_active, version.activated_at = True, datetime.now(UTC)
    return version


def process_owner() -> str:
    """This process as ``host:pid``: who holds a job, or is fitting a ``training`` version."""
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_orphans(engine: Engine) -> list[int]:
    """Mark failed every ``training`` version whose fitting process, on this host, is gone.

    A killed ``galactive train`` cannot mark its own row. Versions fitted on other hosts are
    left alone: their processes cannot be checked from here. Returns the ids marked.
    """
    host = socket.gethostname()
    with session_scope(engine) as session:
        training = session.execute(
            select(ModelVersion.id, ModelVersion.config).where(ModelVersion.status == "training")
        ).all()
        gone = [i for i, config in training if _gone((config or {}).get("owner"), host)]
        if not gone:
            return []
        # Still 'training': a fit that finished since the read above keeps its 'ready'.
        failed = session.scalars(
            update(ModelVersion)
            .where(ModelVersion.id.in_(gone), ModelVersion.status == "training")
            .values(status="failed")
            .returning(ModelVersion.id)
        ).all()
        return sorted(failed)


def _gone(owner: object, host: str) -> bool:
    """Whether ``owner`` ("host:pid") names a process of ``host`` that no longer exists."""
    name, _, pid = str(owner).rpartition(":")
    if name != host or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: an existence check, nothing is sent
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False


def mark_failed(engine: Engine, version_id: int) -> None:
    """Mark a version that will never finish (its fit raised or its worker died) failed."""
    with session_scope(engine) as session:
        session.get(ModelVersion, version_id).status = "failed"
