"""Page scripts that ``app/web/main.py`` routes to; Streamlit runs them, nothing imports them.

Not named ``pages/``: Streamlit would serve a ``pages/`` directory next to the main script as
pages of their own, reachable without the sign-in gate.
"""
