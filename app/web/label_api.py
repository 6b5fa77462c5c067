"""The label deck's keys over HTTP: ``POST /galactive/label`` applies a browser page's key
presses and answers with the galaxies now held for the labeler, drawn as cards.

Keys do not go through Streamlit: a rerun per key is cut short by the next key at its first
Streamlit call, so at five keys a second the page never got as far as sending the next
galaxies. This route answers each batch of keys on its own, in tens of milliseconds.

The request carries the sign-in cookie (HttpOnly, SameSite=Strict); a request from another
origin, without JSON, too large or without a live session is refused before anything is
read from the database. What a page has applied (per user and page load) is kept in memory:
a resent batch counts once. The answer carries the cards already drawn (always the first);
the others are drawn after it, and the page asks again for them (``more``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine

from app.config import Settings
from app.services import web_sessions
from app.web import label_card, label_flow
from app.web.label_card import Look
from app.web.label_flow import KeyEvent
from storage.db import session_scope

LABEL_ROUTE = "/galactive/label"
MAX_BODY = 256 * 1024  # bytes: a hundred keys with long comments
MAX_EVENTS = 100
PAGES = 1024  # page loads whose progress is kept
BUILDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="label-cards")


class _Pages:
    """Per (database, user, page load): the state label_flow keeps (held galaxies, keys applied,
    messages) and a lock, so two batches from one page are applied one after the other."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: OrderedDict[tuple[str, int, str], tuple[threading.Lock, dict]] = OrderedDict()

    def get(self, db_url: str, user_id: int, page: str) -> tuple[threading.Lock, dict]:
        key = (db_url, user_id, page)
        with self._lock:
            found = self._pages.get(key)
            if found is None:
                found = self._pages[key] = (threading.Lock(), {})
            self._pages.move_to_end(key)
            while len(self._pages) > PAGES:
                self._pages.popitem(last=False)
            return found


PAGES_SEEN = _Pages()


def refused(
    *, origin: str | None, host: str | None, content_type: str | None, size: int | None
) -> tuple[int, str] | None:
    """Why a request is refused before it is read (status, reason), or None: another
    origin (status 403), not JSON (415) or too large (413)."""
    if origin is not None and host is not None and origin.split("://", 1)[-1] != host:
        return 403, f"requests from {origin} are not allowed"
    if (content_type or "").split(";")[0].strip() != "application/json":
        return 415, "send application/json"
    if size is not None and size > MAX_BODY:
        return 413, f"at most {MAX_BODY} bytes"
    return None


def answer(settings: Settings, db: Engine, token: str | None, body: bytes) -> tuple[int, dict]:
    """Apply the keys in ``body`` for the user signed in by ``token``; (status, reply)."""
    if len(body) > MAX_BODY:
        return 413, {"error": f"at most {MAX_BODY} bytes"}
    user_id = None
    if token:
        with session_scope(db) as s:
            user = web_sessions.user_of(s, token)
            if user is not None:
                user_id, role = user.id, user.role
    if user_id is None:
        return 401, {"error": "sign in first"}
    try:
        request = json.loads(body)
    except ValueError:
        return 400, {"error": "the body is not JSON"}
    if not isinstance(request, Mapping):
        return 400, {"error": "the body must be a JSON object"}
    page, task_id = request.get("page"), request.get("task")
    if not isinstance(page, str) or not 0 < len(page) <= 64 or not isinstance(task_id, int):
        return 400, {"error": "page (a short string) and task (an id) are required"}
    with session_scope(db) as s:
        task = next((t for t in label_flow.classification_tasks(s) if t.id == task_id), None)
    if task is None:
        return 400, {"error": f"no classification task with id {task_id}"}
    requested = request.get("overlap")
    overlap = label_flow.allowed_overlap(role, requested if isinstance(requested, int) else 1)
    events = [e for e in label_flow.parse_events(request.get("events")) if e.page == page]
    if len(events) > MAX_EVENTS:
        return 413, {"error": f"at most {MAX_EVENTS} keys at once"}
    return 200, apply(
        settings, db, user_id, page, task, overlap, events, look_of(request.get("look"))
    )


def apply(
    settings: Settings,
    db: Engine,
    user_id: int,
    page: str,
    task: label_flow.TaskChoice,
    overlap: int,
    events: list[KeyEvent],
    look: Look,
) -> dict[str, Any]:
    """Apply ``events`` (all from ``page``) in order and say what the page shows now: how far
    its keys are applied, the held galaxies as cards, the latest messages."""
    lock, state = PAGES_SEEN.get(settings.db_url, user_id, page)
    with lock:
        if events:  # the galaxies the keys name: held for this user, whichever page drew them
            label_flow.held(state, db, user_id, task, overlap=overlap)
        label_flow.apply_keys(state, db, user_id, task, events)
        held = label_flow.held(state, db, user_id, task, overlap=overlap)
        active = label_card.active_of(db, task.survey)
        cards = []
        for k, shown in enumerate(held):
            found = label_card.cached(settings, shown, look, active)
            if found is None and k == 0:  # the first held galaxy is never left out
                found = label_card.drawn(settings, db, shown, look, active)
            if found is None:
                break
            cards.append(found.card)
        if missing := held[len(cards) :]:  # drawn after answering; the page asks again
            BUILDER.submit(_draw_all, settings, db, missing, look, active)
        took = label_flow.finish_timing(state)  # logged: server time from the keys to the deck
        return {
            "at": time.time(),
            "server_ms": took,
            "applied": {page: state.get(label_flow.APPLIED_KEY, {}).get(page, 0)},
            "cards": [asdict(card) for card in cards],
            "more": len(missing),
            "notices": [list(n) for n in state.get(label_flow.FLASH_KEY, [])],
            "empty": None if held else label_flow.nothing_left(task),
        }


def _draw_all(
    settings: Settings,
    db: Engine,
    held: list[label_flow.Shown],
    look: Look,
    active: tuple[int, str, str] | None,
) -> None:
    """Draw the cards of ``held`` not drawn yet (one builder thread, so never twice at once)."""
    for shown in held:
        label_card.drawn(settings, db, shown, look, active)


def look_of(raw: Any) -> Look:
    """The look a page asked for, within what the page offers (else the default)."""
    if not isinstance(raw, Mapping):
        return Look()
    try:
        return label_card.checked_look(raw.get("zoom"), raw.get("stretch"), raw.get("contrast"))
    except (TypeError, ValueError):
        return Look()
