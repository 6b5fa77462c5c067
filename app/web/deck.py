"""The label deck: the galaxy in front of a labeler and the next ones, drawn in the browser
(deck.js, deck.css) so that a key shows the next galaxy at once, whatever the server is doing.

The page sends the held galaxies as cards, in order; the browser sends the keys, each naming
the galaxy it was pressed on, to the label route (label_api), which answers with the deck as
it is then. A custom component (``st.components.v2``) keeps its state across reruns, where a
button keyed per galaxy would be replaced mid-press.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import streamlit as st

from app.web import keys
from app.web.label_api import LABEL_ROUTE
from app.web.label_card import Card, Look
from app.web.label_flow import TaskChoice

HERE = Path(__file__).parent
STATE_KEY = "label_deck"  # the component's key: its state holds the galaxy shown

_component = st.components.v2.component(
    "galactive.label_deck",
    css=(HERE / "deck.css").read_text(),
    js=(HERE / "deck.js").read_text(),
    isolate_styles=False,
)


def button_specs(task: TaskChoice) -> list[dict[str, str]]:
    """The deck's buttons: one per class (keys 1 to 9), then unsure, skip, next and undo."""
    specs = [
        {"key": key, "text": keys.labelled(key, name), "kind": "class"}
        for k, name in enumerate(task.names)
        if (key := keys.class_key(k)) is not None
    ]
    return [
        *specs,
        {"key": keys.UNSURE, "text": keys.labelled(keys.UNSURE, "Unsure"), "kind": "unsure",
         "help": "Counts as a look at this galaxy, without a class."},
        {"key": keys.SKIP, "text": keys.labelled(keys.SKIP, "Skip"), "kind": "skip",
         "help": "Recorded as a skip; another labeler gets this galaxy."},
        {"key": keys.NEXT, "text": keys.labelled(keys.NEXT, "Next"), "kind": "next",
         "help": "Pass on this galaxy without recording anything; another labeler gets it."},
        {"key": keys.UNDO, "text": keys.labelled(keys.UNDO, "Undo"), "kind": "undo",
         "help": "Take back your last label in this task; its galaxy comes back."},
    ]  # fmt: skip


def shown_lease(state: Mapping[str, Any]) -> int | None:
    """The lease of the galaxy the browser said it shows, once its keys had settled."""
    sent = state.get(STATE_KEY)
    lease = sent.get("shown") if isinstance(sent, Mapping) else None
    return lease if isinstance(lease, int) else None


def show(
    cards: Sequence[Card],
    *,
    task: TaskChoice,
    overlap: int,
    look: Look,
    empty: str | None,
    detailed: int | None,
) -> None:
    """Draw the deck: ``cards`` in order, the task's buttons and, when no card is left, the
    ``empty`` text. Its keys go to the label route with the task, ``overlap`` and ``look``
    (the route's answers carry the messages); ``detailed`` is the lease whose spectrum the
    page shows."""
    specs = button_specs(task)
    _component(
        key=STATE_KEY,
        data={
            "at": time.time(),
            "cards": [asdict(card) for card in cards],
            "buttons": specs,
            "keys": [spec["key"] for spec in specs],
            "notices": [],
            "empty": empty,
            "detailed": detailed,
            "request": {"api": LABEL_ROUTE, "task": task.id, "overlap": overlap,
                        "look": asdict(look)},
        },
        on_shown_change=_nothing,
    )  # fmt: skip


def _nothing() -> None:
    """The component's change callback: the page reads the shown galaxy itself."""
