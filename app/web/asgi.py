"""The web app as an ASGI application (``galactive serve`` runs it with uvicorn): Streamlit's
``st.App`` on ``main.py``, behind :class:`app.web.guard.Guard`, with its options set here
(under uvicorn, Streamlit reads neither ``streamlit run`` flags nor STREAMLIT_* variables)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from streamlit.web import bootstrap

from app.web.guard import Guard
from app.web.options import OPTIONS

MAIN = Path(__file__).resolve().parent / "main.py"
bootstrap.load_config_options(OPTIONS)
app = st.App(MAIN, middleware=[Middleware(Guard)])
