"""A follow-up plan as the survey's pending follow-up queue: its targets in plan order, with
their exposures and expected gains."""

from __future__ import annotations

from sqlalchemy import Engine

from app.services.followup.plan import ACQUISITION, FollowupPlan
from storage.db import session_scope
from storage.queues import QueueEntry, replace_pending


def queue_entries(plan: FollowupPlan) -> list[QueueEntry]:
    """The plan's targets as follow-up queue entries, in plan order."""
    return [
        QueueEntry(
            galaxy_id=int(g),
            priority=float(p),
            acquisition=ACQUISITION,
            acquisition_score=float(r),
            exposure_s=float(t),
            expected_gain=float(e),
        )
        for g, p, r, t, e in zip(
            plan.galaxy_id,
            plan.priority,
            plan.gain_per_hour,
            plan.exposure_s,
            plan.expected_gain,
            strict=True,
        )
    ]


def save_queue(engine: Engine, plan: FollowupPlan) -> int:
    """Replace the task's pending follow-up queue with ``plan``; returns the items queued."""
    with session_scope(engine) as session:
        return replace_pending(
            session,
            queue="followup",
            task_id=plan.task_id,
            model_version_id=plan.model_version_id,
            entries=queue_entries(plan),
        )
