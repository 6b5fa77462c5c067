"""What the label page does with a labeler's keys, apart from Streamlit, over
``app.services.loop.labeling``. Its messages are plain text: the deck shows them as text,
never as markdown or HTML.

``state`` is ``st.session_state`` in the app (a dict in tests). It holds the galaxies leased
to the labeler in the order the page shows them (``Shown``: a lease and the idempotency key
made when it was first held, so a resent key counts once), the highest key press applied
from each browser page, a few one-line messages about the last actions, and when the last
action started, so the page can log how long the server took.

Keys travel as events ``{page, seq, lease, key, comment}``: the browser numbers them per page
load and names the lease of the galaxy it showed when the key was pressed, so keys pressed
faster than the server answers are applied in order to the galaxy they were meant for, each
once; a key for a galaxy no longer held is refused with a message.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.services.data.class_names import display_name, display_names
from app.services.loop import labeling
from app.services.loop.cold_start import ACQUISITION as COLD_START
from app.services.models.versions import version_name
from app.web import keys
from app.web.posterior import GalaxyPosterior
from bayes import acquisition
from storage.leases import LeaseError

HELD_KEY = "held"
APPLIED_KEY = "keys_applied"
FLASH_KEY = "flash"
STARTED_KEY = "action_started"
MAX_OVERLAP = 10
HELD = 8  # the galaxy shown and seven drawn ahead in the browser
MESSAGES = 3  # the latest action messages shown
MAX_COMMENT = 2000  # characters
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
    """A galaxy held for the labeler in a task, and the key every submission on it uses."""

    task: TaskChoice
    assignment: labeling.Assignment
    idempotency_key: str


@dataclass(frozen=True)
class KeyEvent:
    """One key press from the browser: its page load, its number there, the lease of the
    galaxy shown when it was pressed (none for undo) and the comment typed for that galaxy."""

    page: str
    seq: int
    key: str
    lease: int | None
    comment: str


def classification_tasks(session: Session) -> list[TaskChoice]:
    """Every classification task, by survey then name."""
    return [TaskChoice(*row) for row in labeling.classification_tasks(session)]


def allowed_overlap(role: str, requested: int) -> int:
    """The overlap a user's next lease uses: an admin's choice (1 to MAX_OVERLAP), else 1."""
    return min(max(int(requested), 1), MAX_OVERLAP) if role == "admin" else 1


def held(
    state: MutableMapping[str, Any],
    db: Engine,
    user_id: int,
    task: TaskChoice,
    *,
    overlap: int,
    size: int = HELD,
) -> list[Shown]:
    """The galaxies held for this labeler in ``task``, in the order to show them, topped up
    from the queue; empty when the queue has nothing left for them. A galaxy whose hold ran
    out before its key came is named in a message."""
    before = [s for s in state.get(HELD_KEY, []) if s.task.id == task.id]
    kept = {s.assignment.lease_id: s for s in before}
    assignments = labeling.held(db, user_id, task.id, size=size, overlap=overlap)
    now = [kept.get(a.lease_id) or Shown(task, a, uuid.uuid4().hex) for a in assignments]
    leases = {a.lease_id for a in assignments}
    for lost in (s for s in before if s.assignment.lease_id not in leases):
        notify(state, "warning", f"your hold on {lost.assignment.source_id} ran out")
    state[HELD_KEY] = now
    return now


def nothing_left(task: TaskChoice) -> str:
    """What the deck says when the queue has nothing left for this labeler."""
    return (
        f"Nothing left for you to label in {task.title}. The queue is rebuilt after each "
        "retrain; check again later."
    )


def parse_events(raw: Any, *, limit: int = 1000) -> list[KeyEvent]:
    """The well-formed key events of what the browser sent, by page and number; anything
    else is dropped (the browser is not trusted, and a key it sends must name a known key)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        return []
    found = []
    for item in list(raw)[:limit]:
        if not isinstance(item, Mapping):
            continue
        page, seq, key = item.get("page"), item.get("seq"), item.get("key")
        lease, comment = item.get("lease"), item.get("comment") or ""
        if not (isinstance(page, str) and 0 < len(page) <= 64 and isinstance(seq, int)):
            continue
        if not isinstance(key, str) or key not in keys.ALL_KEYS or not isinstance(comment, str):
            continue
        if lease is not None and not isinstance(lease, int):
            continue
        found.append(KeyEvent(page, seq, key, lease, comment))
    return sorted(found, key=lambda e: (e.page, e.seq))


def apply_keys(
    state: MutableMapping[str, Any],
    db: Engine,
    user_id: int,
    task: TaskChoice,
    events: Sequence[KeyEvent],
) -> int:
    """Apply, in order, the key presses not applied before (per page, by number) to the
    galaxies they were pressed on; how many were new. A key for a galaxy no longer held
    (its hold ran out, or it was already answered) is refused with a message."""
    applied = state.setdefault(APPLIED_KEY, {})
    new = [e for e in events if e.seq > applied.get(e.page, 0)]
    for event in new:
        applied[event.page] = event.seq
        state[STARTED_KEY] = time.perf_counter()
        if event.key == keys.UNDO:
            undo(state, db, user_id, task)
            continue
        current = next(
            (s for s in state.get(HELD_KEY, []) if s.assignment.lease_id == event.lease), None
        )
        if current is None or current.task.id != task.id:
            notify(state, "warning", f"key {event.key} was for a galaxy no longer yours: ignored")
            continue
        if len(event.comment) > MAX_COMMENT:
            notify(
                state,
                "warning",
                f"{current.assignment.source_id} was not saved: the comment is longer "
                f"than {MAX_COMMENT} characters",
            )
            continue
        if event.key == keys.NEXT:
            leave(state, db, user_id, current)
        elif event.key in (keys.UNSURE, keys.SKIP):
            status = "unsure" if event.key == keys.UNSURE else "skip"
            submit(state, db, user_id, current, status=status, comment=event.comment)
        else:
            index = keys.CLASS_KEYS.index(event.key)
            if index >= len(task.classes):
                notify(state, "warning", f"key {event.key} names no class of {task.name}")
                continue
            submit(
                state, db, user_id, current, status="answer", class_index=index,
                comment=event.comment,
            )  # fmt: skip
    return len(new)


def submit(
    state: MutableMapping[str, Any],
    db: Engine,
    user_id: int,
    current: Shown,
    *,
    status: str,
    class_index: int | None = None,
    comment: str = "",
) -> None:
    """Record an answer, unsure or skip for the held galaxy ``current``; it is no longer held.

    A lease that expired or was taken meanwhile is reported; a second submission on a
    galaxy no longer held changes nothing, in the database or on the page.
    """
    source = current.assignment.source_id
    try:
        labeling.submit(
            db,
            user_id,
            current.assignment.lease_id,
            status=status,
            idempotency_key=current.idempotency_key,
            class_index=class_index,
            comment=comment.strip() or None,
        )
    except (LeaseError, PermissionError, ValueError) as err:
        if _release(state, current):
            notify(state, "warning", f"{source} was not saved ({err})")
        return
    if not _release(state, current):
        return  # a repeat of a submission already handled: its first label stands
    if status == "answer" and class_index is not None:
        what = f"labelled {current.task.names[class_index]}"
    else:
        what = {"skip": "skipped", "unsure": "marked unsure"}[status]
    notify(state, "success", f"{source} {what}")


def leave(state: MutableMapping[str, Any], db: Engine, user_id: int, current: Shown) -> None:
    """Pass on the held galaxy ``current`` without a label: its slot goes to another labeler.

    A late second pass on a galaxy no longer held changes nothing.
    """
    try:
        labeling.leave(db, user_id, current.assignment.lease_id)
    except (LeaseError, PermissionError, ValueError) as err:
        if _release(state, current):
            notify(state, "warning", str(err))
        return
    if _release(state, current):
        notify(state, "info", f"{current.assignment.source_id} passed on")


def undo(state: MutableMapping[str, Any], db: Engine, user_id: int, task: TaskChoice) -> None:
    """Retract this labeler's latest label in ``task``; its galaxy is held first again."""
    if labeling.undo_last(db, user_id, task.id) is None:
        notify(state, "info", "nothing to undo")
        return
    notify(state, "success", "your last label is undone")


def notify(state: MutableMapping[str, Any], level: str, message: str) -> None:
    """Add a one-line message about an action; the page shows the latest MESSAGES."""
    state[FLASH_KEY] = [*state.get(FLASH_KEY, []), (level, message)][-MESSAGES:]


def _release(state: MutableMapping[str, Any], current: Shown) -> bool:
    """Stop holding ``current``; whether it was held."""
    now = state.get(HELD_KEY, [])
    if current not in now:
        return False
    state[HELD_KEY] = [s for s in now if s != current]
    return True


def finish_timing(state: MutableMapping[str, Any]) -> float | None:
    """Milliseconds since the action that led to this render began (logged), or None when
    the render was not caused by an action."""
    started = state.pop(STARTED_KEY, None)
    if started is None:
        return None
    ms = (time.perf_counter() - started) * 1000
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
    by = f"model {name}" if name is not None else "no model"
    if active is not None and name is not None and active != name:
        by += f" ({active} is active now)"
    score = assignment.acquisition_score
    rank = "" if percentile is None else f", higher than {percentile:.0%} of the pool"
    value = f"{score:.3g} nats{rank}" if score is not None else "no score"
    if assignment.acquisition == "random_control":
        return (
            f"A random control, queued by {by}: drawn uniformly, whatever its score "
            f"(BALD {value}), so the model's progress can be measured without the bias of its "
            "own picks."
        )
    if assignment.acquisition == COLD_START:
        return (
            "A cold-start pick, queued before the survey had a model: the most typical galaxy "
            "of one of the largest colour clusters not yet labelled (TypiClust), so the first "
            "labels cover the kinds of galaxy the survey holds, rare ones included."
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
