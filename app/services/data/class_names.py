"""Class names as people read them: stored identifiers ("edge_on") shown as words ("edge-on")."""

from __future__ import annotations

from collections.abc import Sequence

# Orientation words astronomers hyphenate; other underscores read as spaces.
_HYPHENATED_SUFFIXES = ("_on",)


def display_name(name: str) -> str:
    """'edge_on' -> 'edge-on', 'face_on' -> 'face-on', 'star_forming' -> 'star forming'."""
    for suffix in _HYPHENATED_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)] + "-" + suffix[1:]
    return " ".join(name.replace("_", " ").split())


def display_names(names: Sequence[str]) -> tuple[str, ...]:
    """:func:`display_name` of each."""
    return tuple(display_name(n) for n in names)
