"""Which browser sessions may make the server work: the signed-in ones, by role.

Streamlit's own endpoints (file uploads) answer any open browser session, signed in or not:
a session that never signed in once pushed 10 x 19 MB to ``/_stcore/upload_file``. The web
app runs in one process with its ASGI middleware (``app/web/asgi.py``), so a registry here
lets the middleware ask, per Streamlit session id, whether a user signed in and as what.
Session ids are random UUIDs that only their own browser knows.
"""

from __future__ import annotations

import threading

_roles: dict[str, str] = {}
_lock = threading.Lock()


def admit(session_id: str, role: str) -> None:
    """Record that ``session_id`` signed in as a user with ``role``."""
    with _lock:
        _roles[session_id] = role


def forget(session_id: str) -> None:
    """The session signed out (or ended): it may do nothing more."""
    with _lock:
        _roles.pop(session_id, None)


def role_of(session_id: str) -> str | None:
    """The role ``session_id`` signed in with, or None for an anonymous session."""
    with _lock:
        return _roles.get(session_id)
