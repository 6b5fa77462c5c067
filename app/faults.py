"""Crash points: named places where the crash-safety tests stop a worker to ``kill -9`` it.

Set ``GALACTIVE_CRASH_POINT=<name>`` and ``GALACTIVE_CRASH_MARKER=<file>``; the process
touches the marker when it reaches that point and then waits to be killed. Unset (always, in
production), a crash point does nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

POINTS = ("train", "score", "queues", "submit")


def crash_point(name: str) -> None:
    """Stop here, forever, if the environment names this crash point (tests only)."""
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r}")
    if os.environ.get("GALACTIVE_CRASH_POINT") != name:
        return
    Path(os.environ["GALACTIVE_CRASH_MARKER"]).touch()
    while True:
        time.sleep(60)
