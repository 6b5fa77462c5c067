"""Galactive's web app: the sign-in gate and the page router (``galactive serve`` runs it).

Anonymous visitors get the sign-in page only (at every page's address); every other page needs
a signed-in user, restored from the browser's cookie after a reload (app/web/session.py).
"""

import streamlit as st

from app.web import session
from app.web.text import plain

st.set_page_config(page_title="Galactive", page_icon="🌌", layout="wide")

session.restore(st.session_state, session.engine())
session.follow_redirect(st.session_state)
user = session.current_user(st.session_state)
if user is None:
    # Every page's address asks for sign-in first, then shows that page (a bookmark works).
    pages = [st.Page("views/signin.py", title="Sign in", icon=":material/login:", default=True)]
    pages += [
        st.Page("views/signin.py", title="Sign in", url_path=path)
        for path in ("models", "followup", "reports")
    ]
else:
    pages = [
        st.Page("views/label.py", title="Label", icon=":material/label:", default=True),
        st.Page("views/models.py", title="Models", icon=":material/model_training:"),
        st.Page("views/followup.py", title="Follow-up", icon=":material/satellite_alt:"),
        st.Page("views/reports.py", title="Reports", icon=":material/monitoring:"),
    ]
    st.sidebar.caption(f"Signed in as **{plain(user.name)}** ({user.role})")
    st.sidebar.button(
        "Sign out",
        key="sign_out",
        on_click=session.sign_out,
        args=(st.session_state, session.engine()),
    )
st.navigation(pages, position="sidebar" if user is not None else "hidden").run()
