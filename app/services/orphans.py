"""Who is fitting a model version, and what becomes of versions whose fit will never finish.

Each ``training`` version records the process fitting it (``host:pid``); a killed
``galactive train`` cannot mark its own row, so the next fit or worker marks it failed once
its process is gone (:func:`fail_orphans`). A fit that raised is marked failed at once.
"""

from __future__ import annotations

import os
import socket

from sqlalchemy import Engine, select, update

from storage.db import session_scope
from storage.models import ModelVersion


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
