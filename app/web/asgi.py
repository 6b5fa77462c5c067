"""The web app as an ASGI application (``galactive serve`` runs it with uvicorn): Streamlit's
``st.App`` on ``main.py``, behind :class:`app.web.guard.Guard`, with its options set here
(under uvicorn, Streamlit reads neither ``streamlit run`` flags nor STREAMLIT_* variables),
and the two routes that set and clear the sign-in cookie (:mod:`app.services.web_sessions`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route
from streamlit.web import bootstrap

from app.config import resolve
from app.services import web_sessions
from app.web.guard import Guard
from app.web.options import OPTIONS
from app.web.session import COOKIE, SESSION_ROUTE, SIGN_OUT_ROUTE, safe_path
from storage.db import make_engine, session_scope

MAIN = Path(__file__).resolve().parent / "main.py"


@cache
def _engine(db_url: str) -> Engine:
    return make_engine(db_url)


def _deliver(token: str) -> bool:
    with session_scope(_engine(resolve().db_url)) as session:
        return web_sessions.deliver(session, token)


def _revoke(token: str) -> None:
    with session_scope(_engine(resolve().db_url)) as session:
        web_sessions.revoke(session, token)


async def start_session(request: Request) -> RedirectResponse:
    """Trade a fresh sign-in token for its HttpOnly, SameSite=Strict cookie, once; then show
    the page that was asked for (``next``, a path on this server)."""
    token = request.query_params.get("token", "")
    response = RedirectResponse(safe_path(request.query_params.get("next")), status_code=303)
    if token and await run_in_threadpool(_deliver, token):
        response.set_cookie(
            COOKIE, token, max_age=int(web_sessions.LIFETIME.total_seconds()), path="/",
            httponly=True, samesite="strict", secure=request.url.scheme == "https",
        )  # fmt: skip
    return response


async def end_session(request: Request) -> RedirectResponse:
    """Revoke the cookie's session on the server and clear the cookie; back to sign-in."""
    if token := request.cookies.get(COOKIE):
        await run_in_threadpool(_revoke, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


bootstrap.load_config_options(OPTIONS)
app = st.App(
    MAIN,
    routes=[Route(SESSION_ROUTE, start_session), Route(SIGN_OUT_ROUTE, end_session)],
    middleware=[Middleware(Guard)],
)
