"""Who is signed in, and the database every page talks to.

Settings come from ``GALACTIVE_DB`` / ``GALACTIVE_HOME`` (``galactive serve`` sets both); the
engine is shared by every browser session through ``st.cache_resource``. The signed-in user is
a plain record in ``st.session_state``, never an ORM object, so nothing lazy-loads later.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import streamlit as st
from sqlalchemy import Engine
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.config import Settings, resolve
from app.services.auth import sign_in as auth_sign_in
from app.web import admission
from storage.db import make_engine, session_scope

USER_KEY = "user"


@dataclass(frozen=True)
class SignedIn:
    """The user of this browser session."""

    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def settings() -> Settings:
    """Where the data lives, from the environment (read per call: cheap, and tests change it)."""
    return resolve()


@st.cache_resource(show_spinner=False)
def _engine(db_url: str) -> Engine:
    return make_engine(db_url)


def engine() -> Engine:
    """The engine for this server's database, one per URL for every browser session."""
    return _engine(settings().db_url)


class ThrottledError(Exception):
    """Too many failed sign-ins from this name or client: ``wait`` seconds before the next."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"too many failed sign-ins: try again in {wait:.0f} s")
        self.wait = wait


def _client() -> str:
    """The address this browser session connects from ("unknown" outside a server)."""
    try:
        address = st.context.ip_address
    except Exception:  # no script run context (tests calling services directly)
        return "unknown"
    return address if isinstance(address, str) and address else "unknown"


def check_password(db: Engine, name: str, password: str) -> SignedIn | None:
    """The user ``name`` if ``password`` is theirs, else None (timing tells no names apart);
    ThrottledError while earlier failures of this name or client hold the next attempt back
    (:func:`app.services.auth.sign_in`)."""
    with session_scope(db) as session:
        answer = auth_sign_in(session, name.strip(), password, client=_client())
        if answer.wait > 0:
            raise ThrottledError(answer.wait)
        user = answer.user
        return SignedIn(user.id, user.name, user.role) if user is not None else None


def _browser_session() -> str | None:
    """This script run's Streamlit session id (None outside a server, e.g. in AppTest)."""
    ctx = get_script_run_ctx()
    return None if ctx is None else ctx.session_id


def sign_in(state: MutableMapping[str, Any], db: Engine, name: str, password: str) -> bool:
    """Record ``name`` as this session's user if the password is theirs; whether it was.
    The server then lets this browser session do what the role allows (uploads: admins)."""
    user = check_password(db, name, password)
    if user is not None:
        state[USER_KEY] = user
        if (browser := _browser_session()) is not None:
            admission.admit(browser, user.role)
    return user is not None


def sign_out(state: MutableMapping[str, Any]) -> None:
    """Forget everything this browser session held (its user, its galaxy, its messages)."""
    if (browser := _browser_session()) is not None:
        admission.forget(browser)
    for key in list(state.keys()):
        del state[key]


def current_user(state: MutableMapping[str, Any]) -> SignedIn | None:
    """This session's signed-in user, if any."""
    return state.get(USER_KEY)


def pick_survey(db: Engine, key: str) -> str:
    """The survey chosen in the sidebar among those with a model version; stops the page
    with a hint when there is none yet."""
    from app.services.models.admin import surveys_with_versions

    with session_scope(db) as s:
        surveys = surveys_with_versions(s)
    if not surveys:
        st.info("No model version yet: train one with `galactive train --survey S`.")
        st.stop()
    return st.sidebar.selectbox("Survey", surveys, key=key)
