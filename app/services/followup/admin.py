"""The follow-up page's services: target lists as bytes, the saved follow-up queue, and the admin
actions (save a plan as the queue, mark targets observed, ingest returned spectra).

Actions take the acting user's id and check the role in the database (``require_admin``).
Uploaded spectra go through the CLI's ingest path (``read_sdss_spectra`` then the one-
transaction writer): a bad file stops the whole upload and nothing is written.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.services.followup.export import write_targets
from app.services.followup.plan import FollowupPlan
from app.services.followup.queue import save_queue
from app.services.models.admin import require_admin
from storage.db import session_scope
from storage.errors import IngestError
from storage.ingest.sdss_spectra import read_sdss_spectra
from storage.ingest.writer import IngestSummary, ingest
from storage.models import Galaxy, ModelVersion, QueueItem, Survey, Task

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # per uploaded spectrum file
OPEN = ("pending", "leased")  # follow-up items that can still be marked observed


@dataclass(frozen=True)
class FollowupItem:
    """One target of a saved follow-up queue."""

    id: int
    source_id: str
    ra: float
    dec: float
    exposure_s: float | None
    expected_gain: float | None
    gain_per_hour: float | None
    priority: float
    status: str
    model_version: str | None


def regression_tasks(session: Session, survey: str) -> list[str]:
    """Names of ``survey``'s regression tasks (what a spectrum can pin down), redshift first."""
    names = session.scalars(
        select(Task.name)
        .join(Survey, Survey.id == Task.survey_id)
        .where(Survey.name == survey, Task.kind == "regression")
        .order_by(Task.name)
    )
    return sorted(names, key=lambda n: n != "redshift")


def export_bytes(plan: FollowupPlan, suffix: str, *, layout: str = "galactive") -> bytes:
    """The plan's target list in the format of ``suffix`` (.csv, .fits, .vot) and ``layout``
    (``app.services.followup.export.LAYOUTS``), as bytes."""
    with tempfile.TemporaryDirectory(prefix="galactive-targets-") as tmp:
        path = write_targets(plan, Path(tmp) / f"targets{suffix}", layout=layout)
        return path.read_bytes()


def followup_queue(session: Session, survey: str, task: str) -> list[FollowupItem]:
    """The saved follow-up queue of (survey, task): open targets by priority, then observed."""
    rows = session.execute(
        select(QueueItem, Galaxy.source_id, Galaxy.ra, Galaxy.dec, ModelVersion.name)
        .join(Task, Task.id == QueueItem.task_id)
        .join(Survey, Survey.id == Task.survey_id)
        .join(Galaxy, Galaxy.id == QueueItem.galaxy_id)
        .outerjoin(ModelVersion, ModelVersion.id == QueueItem.model_version_id)
        .where(Survey.name == survey, Task.name == task, QueueItem.queue == "followup")
        .order_by(QueueItem.priority.desc(), QueueItem.id)
    ).all()
    items = [
        FollowupItem(
            id=q.id,
            source_id=source_id,
            ra=ra,
            dec=dec,
            exposure_s=q.exposure_s,
            expected_gain=q.expected_gain,
            gain_per_hour=q.acquisition_score,
            priority=q.priority,
            status=q.status,
            model_version=version,
        )
        for q, source_id, ra, dec, version in rows
    ]
    return sorted(items, key=lambda i: i.status not in OPEN)


def save_plan_as(engine: Engine, user_id: int, plan: FollowupPlan) -> int:
    """Replace the pending follow-up queue with ``plan`` as admin ``user_id``; items queued."""
    with session_scope(engine) as session:
        require_admin(session, user_id)
    return save_queue(engine, plan)


def mark_observed_as(engine: Engine, user_id: int, item_ids: Sequence[int]) -> int:
    """Mark the open follow-up items ``item_ids`` observed as admin ``user_id``; how many were
    (items already observed, or not in the follow-up queue, are left alone)."""
    with session_scope(engine) as session:
        require_admin(session, user_id)
        if not item_ids:
            return 0
        return session.execute(
            update(QueueItem)
            .where(
                QueueItem.id.in_([int(i) for i in item_ids]),
                QueueItem.queue == "followup",
                QueueItem.status.in_(OPEN),
            )
            .values(status="observed", lease_owner_id=None, lease_expires_at=None)
        ).rowcount


def check_uploads(files: Sequence[tuple[str, bytes]], *, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
    """IngestError naming the file when an upload is empty, too large, named twice, or named
    something that is not a file name ('', '.', '..': they once escaped the upload folder)."""
    if not files:
        raise IngestError("no file was uploaded")
    seen: set[str] = set()
    for name, data in files:
        base = Path(name).name
        if base in ("", ".", "..") or "\x00" in base:
            raise IngestError("not a file name", file=repr(name))
        if len(data) > max_bytes:
            raise IngestError(
                f"{len(data) / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB limit per file",
                file=base,
            )
        if not data:
            raise IngestError("the file is empty", file=base)
        if base in seen:
            raise IngestError("uploaded twice", file=base)
        seen.add(base)


def ingest_uploads_as(
    settings: Settings,
    user_id: int,
    survey: str,
    files: Sequence[tuple[str, bytes]],
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> IngestSummary:
    """Ingest uploaded SDSS spectrum files (name, bytes) into ``survey`` as admin ``user_id``,
    all or nothing, exactly as ``galactive ingest spectra`` does. Errors are IngestError
    naming the uploaded file (not the temporary copy), row and column."""
    engine = settings.engine()
    try:
        with session_scope(engine) as session:
            require_admin(session, user_id)
        check_uploads(files, max_bytes=max_bytes)
        with tempfile.TemporaryDirectory(prefix="galactive-upload-") as tmp:
            paths = []
            for name, data in files:
                path = Path(tmp) / Path(name).name
                path.write_bytes(data)
                paths.append(path)
            try:
                return ingest(
                    engine,
                    settings.store(),
                    survey,
                    read_sdss_spectra(paths),
                    kind="spectra",
                    source="upload: " + " ".join(p.name for p in paths),
                    on_existing="match",
                )
            except IngestError as err:
                file = Path(err.file).name if err.file else None
                raise IngestError(err.reason, file=file, row=err.row, column=err.column) from err
    finally:
        engine.dispose()
