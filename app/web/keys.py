"""The label page's keys: 1 to 9 for the first nine classes, then unsure, skip, next (pass)
and undo. The browser side (app/web/deck.js) listens for them; a key presses the button whose
text starts "[key]"."""

from __future__ import annotations

CLASS_KEYS = "123456789"
UNSURE, SKIP, NEXT, UNDO = "u", "s", "n", "z"
ALL_KEYS = frozenset(CLASS_KEYS) | {UNSURE, SKIP, NEXT, UNDO}


def labelled(key: str | None, text: str) -> str:
    """A button text that key ``key`` presses: "[key] text" (just ``text`` without a key)."""
    return f"[{key}] {text}" if key else text


def class_key(index: int) -> str | None:
    """The key of the class at ``index``: 1 to 9 for the first nine, none after."""
    return CLASS_KEYS[index] if index < len(CLASS_KEYS) else None
