"""What the models page does on a click and how it words the state it shows, apart from
Streamlit (``state`` is ``st.session_state`` in the app, a dict in tests)."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from app.services.models import admin as model_admin
from app.services.models.admin import JobView, QueueRow, VersionRow
from app.web.text import plain

FLASH_KEY = "models_flash"
CONFIRM_KEY = "models_confirm"
SEEN_KEY = "models_job_seen"


def version_title(row: VersionRow) -> str:
    """'mock-v1 (id 1, 4095 labels)' for a version chooser."""
    labels = f", {row.n_labels} labels" if row.n_labels is not None else ""
    return f"{row.name} (id {row.id}{labels})"


def versions_frame(rows: Sequence[VersionRow]) -> pd.DataFrame:
    """The versions table: one row per version, newest first."""
    return pd.DataFrame(
        {
            "version": [r.name for r in rows],
            "active": ["●" if r.is_active else "" for r in rows],
            "status": [r.status for r in rows],
            "accuracy": [r.accuracy for r in rows],
            "ECE": [r.ece for r in rows],
            "σ_NMAD": [r.sigma_nmad for r in rows],
            "68% cov.": [r.coverage_68 for r in rows],
            "95% cov.": [r.coverage_95 for r in rows],
            "n labels": [r.n_labels for r in rows],
            "watermark": [r.label_watermark for r in rows],
            "trained on": [r.source for r in rows],
            "fit": [r.fit or "" for r in rows],
            "parent": [r.parent or "" for r in rows],
            "healthy": [{True: "yes", False: "no"}.get(r.healthy, "") for r in rows],
            "n validation": [r.n_validation for r in rows],
            "decision": [r.decision or "" for r in rows],
            "created (UTC)": [f"{r.created_at:%Y-%m-%d %H:%M}" for r in rows],
        }
    )


def queue_frame(rows: Sequence[QueueRow]) -> pd.DataFrame:
    """The top of the label queue: rank, galaxy, acquisition, score and queuing version."""
    return pd.DataFrame(
        {
            "task": [r.task for r in rows],
            "rank": [r.rank for r in rows],
            "galaxy": [r.source_id for r in rows],
            "acquisition": [r.acquisition or "" for r in rows],
            "score (nats)": [r.score for r in rows],
            "model version": [r.model_version or "" for r in rows],
            "status": [r.status for r in rows],
        }
    )


def job_summary(job: JobView) -> tuple[str, str]:
    """(Streamlit message level, sentence) for a retrain job's state."""
    if job.waiting_for_worker:
        return (
            "warning",
            f"Retrain job {job.id} is queued, but no worker has picked it up yet: "
            "start one with `galactive worker`.",
        )
    if job.status == "queued":
        return "info", f"Retrain job {job.id} is queued again ({job.message or 'retrying'})."
    if job.status == "running":
        return "info", f"Retrain job {job.id} is running on {job.worker} ({job.progress:.0%})."
    if job.status == "succeeded":
        done = f" at {job.finished_at:%H:%M} UTC" if job.finished_at is not None else ""
        return "success", f"Retrain job {job.id} finished{done}: {job.message}."
    return "error", f"Retrain job {job.id} {job.status}: {job.error or job.message}."


def finished_since_seen(state: MutableMapping[str, Any], job: JobView) -> bool:
    """Whether ``job`` ended since this session last saw it active (then the page reloads
    once to show the new version); records what was seen."""
    seen = state.get(SEEN_KEY)
    state[SEEN_KEY] = (job.id, job.active)
    return seen == (job.id, True) and not job.active


def retrain(state: MutableMapping[str, Any], db: Engine, user_id: int, survey: str) -> None:
    """Queue a retrain of ``survey`` as ``user_id`` and say so (or why not)."""
    try:
        job_id = model_admin.retrain_as(db, user_id, survey)
    except PermissionError as err:
        state[FLASH_KEY] = ("error", f"Not allowed: {plain(err)}.")
        return
    state[SEEN_KEY] = (job_id, True)
    state[FLASH_KEY] = ("success", f"Retrain job {job_id} queued for {plain(survey)}.")


def ask_confirm(state: MutableMapping[str, Any], version_id: int) -> None:
    """Ask for a confirmation before activating ``version_id``."""
    state[CONFIRM_KEY] = version_id


def cancel_confirm(state: MutableMapping[str, Any]) -> None:
    """Forget a pending activation."""
    state.pop(CONFIRM_KEY, None)


def activate(
    state: MutableMapping[str, Any], db: Engine, user_id: int, version_id: int, name: str
) -> None:
    """Activate ``version_id`` as ``user_id`` (confirmed) and say what was queued."""
    state.pop(CONFIRM_KEY, None)
    try:
        queued = model_admin.activate_as(db, user_id, version_id)
    except (PermissionError, ValueError) as err:
        state[FLASH_KEY] = ("error", f"{plain(name)} was not activated: {plain(err)}.")
        return
    if not queued:
        state[FLASH_KEY] = (
            "warning",
            f"{plain(name)} is now active, but it has no stored scores, so the label queue was not "
            f"rebuilt: run `galactive score --version {version_id}`.",
        )
        return
    summary = ", ".join(f"{task} {n}" for task, n in queued.items())
    state[FLASH_KEY] = ("success", f"{plain(name)} is now active; label queue rebuilt ({summary}).")
