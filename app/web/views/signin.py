"""Sign-in: the only page an anonymous visitor sees; it shows nothing from the database."""

import streamlit as st

from app.web import session

st.title("Galactive")
st.markdown(
    "Bayesian active learning for galaxy surveys: the model asks experts to label the "
    "galaxies it would learn most from, and keeps a calibrated posterior for every galaxy. "
    "Sign in with the account your survey's admin made for you "
    "(`galactive user add NAME`)."
)
form_column, _ = st.columns([2, 3])
with form_column, st.form("sign_in"):
    name = st.text_input("User name", key="sign_in_name")
    password = st.text_input("Password", type="password", key="sign_in_password")
    pressed = st.form_submit_button("Sign in", type="primary")
if pressed:
    try:
        if session.sign_in(st.session_state, session.engine(), name, password):
            st.rerun()
        st.error("Unknown user name or wrong password.")
    except session.ThrottledError as throttled:
        st.error(
            f"Too many failed sign-ins: try again in {throttled.wait:.0f} s. "
            "An admin can see the attempts in the server log."
        )
