"""Which retrain round to run, heads-only or full, and its floor on optimiser steps.

A full round updates trunk and heads (the warm start). A heads-only round keeps the active
version's trunk and refits the Bayesian heads on its latents: the fit is seconds, and the
pool is rescored from the latents the last full pass cached (:mod:`storage.latents`), without
the trunk. Heads-only is enough while the labels added since the trunk was fitted are few
next to the labels it was fitted on: new labels mostly move the heads, and the heads carry
the epistemic uncertainty the queues rank by. A full round comes back after HEADS_GROWTH more
labels or MAX_HEADS_ROUNDS heads-only rounds, and whenever a heads-only version is not good
enough to activate (:func:`app.services.loop.retrain.run_retrain` then runs one at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bayes.config import WARM_MIN_STEPS
from storage.models import Label, ModelVersion, Survey, Task

HEADS_GROWTH = 0.5  # heads-only while labels added since the trunk's fit ≤ this share of its labels
MAX_HEADS_ROUNDS = 4  # heads-only rounds in a row before a full round, whatever the growth
ROUNDS = ("auto", "heads", "full")
Kind = Literal["heads", "full"]


@dataclass(frozen=True)
class RoundChoice:
    """The round to run, why, and for a heads-only round the record of the trunk it keeps
    (``trunk_version``, ``trunk_labels``, ``heads_rounds``), stored in the version's config."""

    kind: Kind
    reason: str
    trunk: dict[str, Any] | None = None


def labels_since(session: Session, survey: str, version: ModelVersion | None) -> int:
    """Labels of ``survey`` that ``version`` has not seen: newer than its label snapshot, or
    (a version fitted on truth has none) made after it was created; all of them for None."""
    stmt = (
        select(func.count(Label.id))
        .join(Task, Task.id == Label.task_id)
        .join(Survey, Survey.id == Task.survey_id)
        .where(Survey.name == survey)
    )
    if version is not None and version.label_watermark is not None:
        stmt = stmt.where(Label.id > version.label_watermark)
    elif version is not None:
        stmt = stmt.where(Label.created_at > version.created_at)
    return int(session.scalar(stmt) or 0)


def choose_round(
    session: Session, survey: str, parent: ModelVersion | None, requested: str = "auto"
) -> RoundChoice:
    """The round a retrain of ``survey`` runs after the active version ``parent``.

    requested: "auto" (the rule in the module docstring), "heads" or "full" (the caller's).
    """
    if requested not in ROUNDS:
        raise ValueError(f"round must be one of {ROUNDS}, got {requested!r}")
    if parent is None:
        return RoundChoice("full", "no active version to keep a trunk from")
    if requested == "full":
        return RoundChoice("full", "a full round was asked for")
    record = (parent.config or {}).get("round") or {"kind": "full"}
    if record.get("kind") == "heads":
        trunk_id, trunk_labels = record["trunk_version"], int(record["trunk_labels"])
        rounds = int(record["heads_rounds"])
    else:
        trunk_id, trunk_labels, rounds = parent.id, int(parent.n_labels or 0), 0
    trunk_version = session.get(ModelVersion, trunk_id)
    if trunk_version is None:
        return RoundChoice("full", f"the trunk's version {trunk_id} is gone")
    added = labels_since(session, survey, trunk_version)
    keep = {"trunk_version": trunk_id, "trunk_labels": trunk_labels, "heads_rounds": rounds + 1}
    since = f"{added} labels since {trunk_version.name}'s trunk was fitted on {trunk_labels}"
    if requested == "heads":
        return RoundChoice("heads", f"a heads-only round was asked for; {since}", keep)
    if rounds >= MAX_HEADS_ROUNDS:
        return RoundChoice("full", f"{rounds} heads-only rounds since the trunk was fitted")
    if added > HEADS_GROWTH * trunk_labels:
        return RoundChoice("full", f"{since}: more than {HEADS_GROWTH:.0%} new")
    return RoundChoice("heads", f"{since}: at most {HEADS_GROWTH:.0%} new", keep)


def warm_floor(model_cfg: dict[str, Any], params: dict[str, Any]) -> int:
    """A round's floor on optimiser steps: the job's ``min_steps``, else the active version's
    capped at WARM_MIN_STEPS (a warm start needs fewer steps than a fit from scratch, but
    not the handful that a few epochs of a small labelled set give)."""
    if params.get("min_steps") is not None:
        return int(params["min_steps"])
    return min(int(model_cfg.get("min_steps", 0)), WARM_MIN_STEPS)
