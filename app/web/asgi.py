"""The web app as an ASGI application (``galactive serve`` runs it with uvicorn): Streamlit's
``st.App`` on ``main.py``, behind :class:`app.web.guard.Guard`, with its options set here
(under uvicorn, Streamlit reads neither ``streamlit run`` flags nor STREAMLIT_* variables),
the two routes that set and clear the sign-in cookie (:mod:`app.services.web_sessions`) and
the one that takes the label page's keys (:mod:`app.web.label_api`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route
from streamlit.web import bootstrap

from app.config import resolve
from app.services import web_sessions
from app.web import label_api
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


async def label_keys(request: Request) -> JSONResponse:
    """Apply a label page's keys and answer with its deck (:mod:`app.web.label_api`)."""
    length = request.headers.get("content-length")
    why = label_api.refused(
        origin=request.headers.get("origin"), host=request.headers.get("host"),
        content_type=request.headers.get("content-type"),
        size=int(length) if length and length.isdigit() else None,
    )  # fmt: skip
    if why is not None:
        return JSONResponse({"error": why[1]}, status_code=why[0])
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > label_api.MAX_BODY:
            return JSONResponse({"error": "too large"}, status_code=413)
    settings = resolve()
    status, reply = await run_in_threadpool(
        label_api.answer, settings, _engine(settings.db_url), request.cookies.get(COOKIE), body
    )
    return JSONResponse(reply, status_code=status)


bootstrap.load_config_options(OPTIONS)
app = st.App(
    MAIN,
    routes=[
        Route(SESSION_ROUTE, start_session),
        Route(SIGN_OUT_ROUTE, end_session),
        Route(label_api.LABEL_ROUTE, label_keys, methods=["POST"]),
    ],
    middleware=[Middleware(Guard)],
)
