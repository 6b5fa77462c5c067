"""Model versions for the web app: what each was trained on and how it scored, the retrain
job's progress, the top of the label queue, and the admin actions (retrain, activate).

Actions take the acting user's id and check the role in the database themselves, so a page
that forgot to hide a button still cannot let a labeler act.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, aliased

from app.services.auth import require_role
from app.services.loop.queues import activate
from app.services.loop.retrain import KIND, request_retrain
from app.services.loop.status import decision_words
from storage.db import session_scope
from storage.models import Galaxy, Job, Lease, ModelVersion, QueueItem, Survey, Task, User

RECENT_JOBS = 50  # retrain jobs looked through for a survey's latest


FITS = {"heads": "heads only", "full": "full"}  # a version's round, as the page names it


@dataclass(frozen=True)
class VersionRow:
    """A model version as the models page lists it: training data and validation metrics."""

    id: int
    name: str
    status: str
    is_active: bool
    created_at: datetime
    activated_at: datetime | None
    parent: str | None
    n_labels: int | None
    label_watermark: int | None
    source: str | None
    accuracy: float | None
    ece: float | None
    sigma_nmad: float | None
    coverage_68: float | None
    coverage_95: float | None
    healthy: bool | None = None
    decision: str | None = None
    n_validation: int | None = None
    fit: str | None = None  # "heads only" (the parent's trunk kept) or "full"; None: older


@dataclass(frozen=True)
class JobView:
    """A retrain job's state as the page polls it."""

    id: int
    status: str
    progress: float
    message: str | None
    worker: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def active(self) -> bool:
        """Still to run or running."""
        return self.status in ("queued", "running")

    @property
    def waiting_for_worker(self) -> bool:
        """Queued and no worker has claimed it (``galactive worker`` is not running)."""
        return self.status == "queued" and self.worker is None


@dataclass(frozen=True)
class QueueRow:
    """One galaxy at the top of a label queue, in serving order."""

    rank: int
    task: str
    source_id: str
    acquisition: str | None
    score: float | None
    model_version: str | None
    status: str


def surveys_with_versions(session: Session) -> list[str]:
    """Names of the surveys that have at least one model version, alphabetically."""
    rows = session.scalars(
        select(Survey.name)
        .join(ModelVersion, ModelVersion.survey_id == Survey.id)
        .distinct()
        .order_by(Survey.name)
    )
    return list(rows)


def _metric(metrics: dict[str, Any] | None, kind: str, key: str) -> float | None:
    """A validation metric of the first task that reports ``key`` (classification for
    accuracy/ECE, the redshift task for σ_NMAD and coverage)."""
    validation = (metrics or {}).get("validation", {})
    ordered = sorted(validation.items(), key=lambda kv: kv[0] != kind)
    for _, values in ordered:
        if isinstance(values, dict) and values.get(key) is not None:
            return float(values[key])
    return None


def fit_words(config: dict[str, Any]) -> str | None:
    """How a version was fitted, as the page says it: its round, and the pretrained encoder it
    started from, e.g. "full, from encoder v3 (warm)"."""
    fit = FITS.get((config.get("round") or {}).get("kind"))
    encoder = config.get("encoder")
    if fit is None or not encoder:
        return fit
    return f"{fit}, from encoder {Path(encoder['path']).name} ({encoder['update']})"


def versions(session: Session, survey: str) -> list[VersionRow]:
    """Every model version of ``survey``, newest first, with its validation metrics."""
    parent = aliased(ModelVersion)
    rows = session.execute(
        select(ModelVersion, parent.name)
        .join(Survey, Survey.id == ModelVersion.survey_id)
        .outerjoin(parent, parent.id == ModelVersion.parent_id)
        .where(Survey.name == survey)
        .order_by(ModelVersion.id.desc())
    ).all()
    out = []
    for v, parent_name in rows:
        m = v.metrics
        out.append(
            VersionRow(
                id=v.id,
                name=v.name,
                status=v.status,
                is_active=v.is_active,
                created_at=v.created_at,
                activated_at=v.activated_at,
                parent=parent_name,
                n_labels=v.n_labels,
                label_watermark=v.label_watermark,
                source=(v.config or {}).get("source"),
                fit=fit_words(v.config or {}),
                accuracy=_metric(m, "morphology", "accuracy"),
                ece=_metric(m, "morphology", "ece"),
                sigma_nmad=_metric(m, "redshift", "sigma_nmad"),
                coverage_68=_metric(m, "redshift", "coverage_68"),
                coverage_95=_metric(m, "redshift", "coverage_95"),
                **dict(
                    zip(("healthy", "decision", "n_validation"), decision_words(m), strict=True)
                ),
            )
        )
    return out


def _job_view(job: Job) -> JobView:
    return JobView(
        job.id,
        job.status,
        float(job.progress or 0.0),
        job.message,
        job.worker,
        job.error,
        job.created_at,
        job.finished_at,
    )


def job(session: Session, job_id: int) -> JobView | None:
    """Job ``job_id`` as the page shows it, or None if there is no such job."""
    found = session.get(Job, job_id)
    return _job_view(found) if found is not None else None


def latest_retrain(session: Session, survey: str) -> JobView | None:
    """The newest retrain job of ``survey`` (among the last RECENT_JOBS retrain jobs)."""
    recent = session.scalars(
        select(Job).where(Job.kind == KIND).order_by(Job.id.desc()).limit(RECENT_JOBS)
    )
    for found in recent:
        if (found.params or {}).get("survey") == survey:
            return _job_view(found)
    return None


def first_model_jobs(session: Session) -> dict[str, JobView]:
    """{survey: its newest retrain job} for surveys whose first model a job is fitting now:
    queued or running, and either the job that fits the first model (``train --background``)
    or any job of a survey with no active version yet. The survey stays waiting until that
    job ends, not when its version is activated: the job builds the queues after that."""
    waiting: dict[str, JobView] = {}
    active = select(ModelVersion.survey_id).where(ModelVersion.is_active.is_(True))
    with_model = set(session.scalars(select(Survey.name).where(Survey.id.in_(active))))
    recent = session.scalars(
        select(Job).where(Job.kind == KIND).order_by(Job.id.desc()).limit(RECENT_JOBS)
    )
    others: dict[str, JobView] = {}
    for found in recent:
        params = found.params or {}
        survey = params.get("survey")
        if survey is None or found.status not in ("queued", "running"):
            continue
        if "first" in params:
            waiting.setdefault(survey, _job_view(found))
        elif survey not in with_model:
            others.setdefault(survey, _job_view(found))
    return {**others, **waiting}


def label_queue_top(session: Session, survey: str, *, n: int = 10) -> list[QueueRow]:
    """The next ``n`` galaxies of each classification task's label queue (pending or leased),
    in the order labelers get them, with the acquisition, score and version that queued them;
    status "held by a labeler" only while someone's hold on it runs, else "waiting"."""
    rows = session.execute(
        select(
            Task.name,
            Galaxy.source_id,
            QueueItem.acquisition,
            QueueItem.acquisition_score,
            ModelVersion.name,
        )
        .join(Task, Task.id == QueueItem.task_id)
        .join(Survey, Survey.id == Task.survey_id)
        .join(Galaxy, Galaxy.id == QueueItem.galaxy_id)
        .outerjoin(ModelVersion, ModelVersion.id == QueueItem.model_version_id)
        .where(
            Survey.name == survey,
            QueueItem.queue == "label",
            QueueItem.status.in_(("pending", "leased")),
        )
        .order_by(Task.name, QueueItem.priority.desc(), QueueItem.id)
    ).all()
    held = set(
        session.scalars(
            select(Galaxy.source_id)
            .join(QueueItem, QueueItem.galaxy_id == Galaxy.id)
            .join(Lease, Lease.queue_item_id == QueueItem.id)
            .where(Lease.status == "open", Lease.expires_at > datetime.now(UTC))
        )
    )
    out: list[QueueRow] = []
    ranks: dict[str, int] = {}
    for task, source_id, acquisition, score, version in rows:
        rank = ranks.get(task, 0) + 1
        if rank > n:
            continue
        ranks[task] = rank
        shown = "held by a labeler" if source_id in held else "waiting"
        out.append(QueueRow(rank, task, source_id, acquisition, score, version, shown))
    return out


def require_admin(session: Session, user_id: int) -> User:
    """The user ``user_id`` if they are an admin; PermissionError otherwise (or if unknown)."""
    user = session.get(User, user_id)
    if user is None:
        raise PermissionError(f"no user with id {user_id}")
    require_role(user, "admin")
    return user


def retrain_as(engine: Engine, user_id: int, survey: str, *, epochs: int | None = None) -> int:
    """Queue a retrain of ``survey`` for the worker as admin ``user_id``; the job's id (the one
    already queued or running when there is one)."""
    with session_scope(engine) as session:
        require_admin(session, user_id)
        return request_retrain(session, survey, epochs=epochs)


def activate_as(engine: Engine, user_id: int, version_id: int) -> dict[str, int]:
    """Make ``version_id`` active and rebuild its label queues, in one transaction, as admin
    ``user_id``; {task: galaxies queued}. ValueError when the version is not ready."""
    with session_scope(engine) as session:
        require_admin(session, user_id)
        return activate(session, version_id)
