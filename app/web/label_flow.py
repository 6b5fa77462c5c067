"""What the label page does on a click, apart from Streamlit, over ``app.services.loop.labeling``.

``state`` is ``st.session_state`` in the app (a dict in tests). It holds the galaxy shown
(``Shown``: its lease and the idempotency key made when it was first shown, so a double click
or a resent click counts once), a one-line message about the last action, and when that
action started, so the page can log how long the server took to show the next galaxy.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.services.data.class_names import display_name, display_names
from app.services.loop import labeling
from app.services.models.versions import version_name
from app.web.posterior import GalaxyPosterior
from app.web.text import plain
from bayes import acquisition
from storage.leases import LeaseError

SHOWN_KEY = "shown"
FLASH_KEY = "flash"
STARTED_KEY = "action_started"
LATENCY_KEY = "last_latency_ms"
MAX_OVERLAP = 10
log = logging.getLogger("galactive.web")


@dataclass(frozen=True)
class TaskChoice:
    """A classification task that experts can label."""

    id: int
    name: str
    survey: str
    classes: tuple[str, ...]

    @property
    def title(self) -> str:
        return f"{display_name(self.name)} ({self.survey})"

    @property
    def names(self) -> tuple[str, ...]:
        """The classes as people read them ("edge-on" for edge_on)."""
        return display_names(self.classes)


@dataclass(frozen=True)
class Shown:
    """The galaxy in front of the labeler in a task, and the key every submission on it uses."""

    task: TaskChoice
    assignment: labeling.Assignment
    idempotency_key: str


def classification_tasks(session: Session) -> list[TaskChoice]:
    """Every classification task, by survey then name."""
    return [TaskChoice(*row) for row in labeling.classification_tasks(session)]


def allowed_overlap(role: str, requested: int) -> int:
    """The overlap a user's next lease uses: an admin's choice (1 to MAX_OVERLAP), else 1."""
    return min(max(int(requested), 1), MAX_OVERLAP) if role == "admin" else 1


def shown(
    state: MutableMapping[str, Any], db: Engine, user_id: int, task: TaskChoice, *, overlap: int
) -> Shown | None:
    """The galaxy this labeler sees in ``task``, leasing the next one when none is shown (or
    the lease on the one shown ran out); None when the queue has nothing left for them."""
    current = state.get(SHOWN_KEY)
    if current is not None and current.task.id == task.id:
        if current.assignment.expires_at > datetime.now(UTC):
            return current
        state[FLASH_KEY] = (
            "warning",
            f"your hold on {plain(current.assignment.source_id)} ran out; here is the next galaxy",
        )
    assignment = labeling.next_galaxy(db, user_id, task.id, overlap=overlap)
    if assignment is None:
        state.pop(SHOWN_KEY, None)
        return None
    current = Shown(task, assignment, uuid.uuid4().hex)
    state[SHOWN_KEY] = current
    return current


def submit(
    state: MutableMapping[str, Any],
    db: Engine,
    user_id: int,
    current: Shown,
    *,
    status: str,
    class_index: int | None = None,
    comment_key: str | None = None,
) -> None:
    """Record an answer, unsure or skip for the galaxy ``current`` and move on to the next.

    The comment is read from ``state[comment_key]`` (the comment box). A lease that expired
    or was taken meanwhile is reported, and the next galaxy is shown; a second press on a
    galaxy no longer shown (a double click) changes nothing, in the database or on the page.
    """
    state[STARTED_KEY] = time.perf_counter()
    comment = (state.get(comment_key) or "").strip() if comment_key else ""
    source = plain(current.assignment.source_id)
    try:
        labeling.submit(
            db,
            user_id,
            current.assignment.lease_id,
            status=status,
            idempotency_key=current.idempotency_key,
            class_index=class_index,
            comment=comment or None,
        )
    except (LeaseError, PermissionError, ValueError) as err:
        if state.get(SHOWN_KEY) == current:
            _finish(
                state,
                current,
                "warning",
                f"{source} was not saved ({plain(err)}); here is the next",
            )
        return
    if state.get(SHOWN_KEY) != current:
        return  # a repeat of a press already handled: its first label stands
    if status == "answer" and class_index is not None:
        what = f"labelled {plain(current.task.names[class_index])}"
    else:
        what = {"skip": "skipped", "unsure": "marked unsure"}[status]
    _finish(state, current, "success", f"{source} {what}")


def leave(state: MutableMapping[str, Any], db: Engine, user_id: int, current: Shown) -> None:
    """Pass on the galaxy ``current`` without a label: its slot goes to another labeler.

    A late second press on a galaxy no longer shown changes nothing.
    """
    state[STARTED_KEY] = time.perf_counter()
    try:
        labeling.leave(db, user_id, current.assignment.lease_id)
    except (LeaseError, PermissionError, ValueError) as err:
        if state.get(SHOWN_KEY) == current:
            _finish(state, current, "warning", f"{plain(err)}; here is the next galaxy")
        return
    _finish(state, current, "info", f"{plain(current.assignment.source_id)} passed on")


def undo(state: MutableMapping[str, Any], db: Engine, user_id: int, task: TaskChoice) -> None:
    """Retract this labeler's latest label in ``task``; its galaxy is shown again next."""
    state[STARTED_KEY] = time.perf_counter()
    if labeling.undo_last(db, user_id, task.id) is None:
        state[FLASH_KEY] = ("info", "nothing to undo")
        return
    state.pop(SHOWN_KEY, None)  # the reopened lease comes first in next_galaxy
    state[FLASH_KEY] = ("success", "your last label is undone")


def finish_timing(state: MutableMapping[str, Any]) -> float | None:
    """Milliseconds since the action that led to this render began (logged), or None when
    the render was not caused by an action."""
    started = state.pop(STARTED_KEY, None)
    if started is None:
        return None
    ms = (time.perf_counter() - started) * 1000
    state[LATENCY_KEY] = ms
    log.info("action to next galaxy: %.1f ms", ms)
    return ms


def reason(
    session: Session,
    assignment: labeling.Assignment,
    *,
    percentile: float | None = None,
    probs: np.ndarray | None = None,
    active: str | None = None,
) -> str:
    """Why this galaxy was queued, in plain words: the acquisition; its score as a percentile
    of the pool (``percentile``, a share in [0, 1]); how much of the posterior's uncertainty
    about it a label can settle (``probs``: the shown posterior's (T, C) samples); power
    sampling in one line; and
    the version now ``active`` when another one queued it."""
    name = version_name(session, assignment.model_version_id)
    by = f"model {plain(name)}" if name is not None else "no model"
    if active is not None and name is not None and active != name:
        by += f" ({plain(active)} is active now)"
    score = assignment.acquisition_score
    rank = "" if percentile is None else f", higher than {percentile:.0%} of the pool"
    value = f"{score:.3g} nats{rank}" if score is not None else "no score"
    if assignment.acquisition == "random_control":
        return (
            f"A random control, queued by {by}: drawn uniformly, whatever its score "
            f"(BALD {value}), so the model's progress can be measured without the bias of its "
            "own picks."
        )
    if assignment.acquisition != "power_bald":
        return f"Queued by {by}: acquisition {assignment.acquisition or 'none'}, score {value}."
    parts = [f"Picked under {by}: its BALD score is {value}."]
    if probs is not None:
        total = float(acquisition.predictive_entropy(probs[None])[0])
        epistemic = float(acquisition.bald(probs[None])[0])
        share = f" ({epistemic / total:.0%})" if total > 0 else ""
        parts.append(
            f"Of the posterior's uncertainty about its class ({total:.2f} nats), "
            f"{epistemic:.3g} nats{share} is disagreement between plausible models, which "
            "your label can settle; the rest is ambiguity no label removes."
        )
    parts.append(
        "Galaxies are drawn with probability proportional to their score (power sampling), "
        "so a few extreme scores cannot fill the queue: queue order follows the score only "
        "on average."
    )
    return " ".join(parts)


def _finish(state: MutableMapping[str, Any], current: Shown, level: str, message: str) -> None:
    """Stop showing ``current`` (unless a newer galaxy is already shown) and leave a message."""
    if state.get(SHOWN_KEY) == current:
        state.pop(SHOWN_KEY)
    state[FLASH_KEY] = (level, message)


def redshift_caption(
    measured: float | None, model: float | None, post: GalaxyPosterior | None
) -> str:
    """What the spectrum's line markers stand for: the measured redshift when there is one,
    with the model's beside it; else the model's; else none."""
    spread = post.redshift_std if post is not None else None
    said = "" if model is None else f"z = {model:.4f}" + (f" ± {spread:.4f}" if spread else "")
    if measured is not None:
        beside = f"; the model says {said}" if said else ""
        return f"Lines at the measured redshift z = {measured:.4f} (spectroscopic){beside}."
    if said:
        return f"No measured redshift: lines at the model's posterior mean, {said}."
    return "No measured redshift and no redshift posterior: lines are not marked."
