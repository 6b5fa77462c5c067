"""Who is signed in, and the database every page talks to.

Settings come from ``GALACTIVE_DB`` / ``GALACTIVE_HOME`` (``galactive serve`` sets both); the
engine is shared by every browser session through ``st.cache_resource``. The signed-in user is
a plain record in ``st.session_state``, never an ORM object, so nothing lazy-loads later.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import streamlit as st
from sqlalchemy import Engine
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.config import Settings, resolve
from app.services import web_sessions
from app.services.auth import sign_in as auth_sign_in
from app.web import admission
from storage.db import make_engine, session_scope

USER_KEY = "user"
TOKEN_KEY = "session_token"  # the cookie's token, revoked at sign-out
REDIRECT_KEY = "redirect"  # where the browser must go next (to set or clear the cookie)
COOKIE = "galactive_session"
SESSION_ROUTE, SIGN_OUT_ROUTE = "/galactive/session", "/galactive/signout"


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


def safe_path(target: str | None) -> str:
    """``target`` if it is a path on this server ("/models"), else "/": a redirect never
    leaves the site ("//evil.example", "https://...", backslashes)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _here() -> str:
    """The path of the page this browser session shows ("/" outside a server)."""
    try:
        url = st.context.url
    except Exception:  # no script run context
        return "/"
    return safe_path(urlsplit(url).path) if isinstance(url, str) else "/"


def _cookie() -> str | None:
    """The sign-in cookie this browser sent with its connection, if any."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no script run context
        return None
    return value if isinstance(value, str) and value else None


def _signed_in(state: MutableMapping[str, Any], user: SignedIn, token: str) -> None:
    state[USER_KEY], state[TOKEN_KEY] = user, token
    if (browser := _browser_session()) is not None:
        admission.admit(browser, user.role)


def sign_in(state: MutableMapping[str, Any], db: Engine, name: str, password: str) -> bool:
    """Record ``name`` as this session's user if the password is theirs; whether it was.
    The server then lets this browser session do what the role allows (uploads: admins), and
    the browser is sent once through SESSION_ROUTE for the cookie that keeps it signed in
    across reloads, tabs and bookmarks, back to the page it asked for."""
    user = check_password(db, name, password)
    if user is None:
        return False
    with session_scope(db) as session:
        token = web_sessions.issue(session, user.id)
    _signed_in(state, user, token)
    state[REDIRECT_KEY] = f"{SESSION_ROUTE}?{urlencode({'token': token, 'next': _here()})}"
    return True


def restore(state: MutableMapping[str, Any], db: Engine) -> None:
    """Sign this browser session in from its cookie, if it holds a live one (a reload, a new
    tab or a bookmark opens a new Streamlit session, with the cookie but no state)."""
    if current_user(state) is not None or (token := _cookie()) is None:
        return
    with session_scope(db) as session:
        user = web_sessions.user_of(session, token)
        if user is None:
            return
        signed = SignedIn(user.id, user.name, user.role)
    _signed_in(state, signed, token)


def sign_out(state: MutableMapping[str, Any], db: Engine | None = None) -> None:
    """Forget everything this browser session held (its user, its galaxy, its messages),
    revoke its cookie's session on the server, and send the browser to clear the cookie."""
    token = state.get(TOKEN_KEY) or _cookie()
    if db is not None and token:
        with session_scope(db) as session:
            web_sessions.revoke(session, token)
    if (browser := _browser_session()) is not None:
        admission.forget(browser)
    for key in list(state.keys()):
        del state[key]
    if token:
        state[REDIRECT_KEY] = SIGN_OUT_ROUTE


def follow_redirect(state: MutableMapping[str, Any]) -> None:
    """Send the browser where sign-in or sign-out left it to go (a one-time navigation)."""
    if (target := state.pop(REDIRECT_KEY, None)) is not None:
        st.html(
            f"<script>window.location.replace({json.dumps(target)})</script>",
            unsafe_allow_javascript=True,
        )


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
        from app.web import first_model

        hint = "No model version yet: train one with `galactive train --survey S`."
        first_model.show_and_stop(db, first_model.waiting(db), hint)
    return st.sidebar.selectbox("Survey", surveys, key=key)
