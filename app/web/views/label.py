"""Label: the galaxies of the expert queue held for this labeler, drawn in the browser as a
deck (image, bands, posterior, why, spectrum) so a key shows the next one at once; below it,
the shown galaxy's spectrum in detail. A key for every
class, unsure, skip, pass and undo.

Keys never rerun this script: the deck sends them to the label route (app/web/label_api.py),
which answers with the next galaxies. The page sends the cards already built first, builds
the missing ones afterwards (then reruns to send them), and reruns when the browser says
which galaxy it shows, for the spectrum below."""

import streamlit as st

from app.web import deck, first_model, images, label_card, label_flow, session
from app.web.spectrum import SMOOTHING, spectrum_spec
from app.web.text import plain
from storage.db import session_scope

EAGER = 2  # cards built before the deck is sent: the galaxy shown and the next one

user = session.current_user(st.session_state)
db = session.engine()
settings = session.settings()
state = st.session_state

with session_scope(db) as s:
    tasks = label_flow.classification_tasks(s)
if not tasks:
    st.info("No classification task yet: ingest a survey with one (`galactive mock`).")
    st.stop()
task = st.sidebar.selectbox("Task", tasks, format_func=lambda t: t.title, key="task")
requested = 1
if user.is_admin:
    requested = st.sidebar.number_input(
        "Overlap (labelers per galaxy)", 1, label_flow.MAX_OVERLAP, 1, key="overlap"
    )
overlap = label_flow.allowed_overlap(user.role, requested)
controls = st.container(horizontal=True)
held = label_flow.held(state, db, user.id, task, overlap=overlap)
if not held and task.survey in (fitting := first_model.waiting(db)):
    first_model.show_and_stop(db, {task.survey: fitting[task.survey]}, "")

# the look the labeler chose last run (its widgets are drawn after the deck)
look = label_card.checked_look(
    state.get("zoom", 1), state.get("stretch") or "asinh", state.get("contrast", 1)
)
active = label_card.active_of(db, task.survey)
ready = []
for k, item in enumerate(held):
    found = label_card.cached(settings, item, look, active)
    if found is None and k < EAGER:
        found = label_card.drawn(settings, db, item, look, active)
    if found is None:
        break
    ready.append(found)
told = deck.shown_lease(state)  # the galaxy the browser shows, for the spectrum below
first = next((d for d in ready if d.card.lease == told), ready[0] if ready else None)
deck.show(
    [d.card for d in ready],
    task=task,
    overlap=overlap,
    look=look,
    empty=None if held else label_flow.nothing_left(task),
    detailed=first.card.lease if first is not None else None,
)

with controls:
    st.select_slider("Zoom", label_card.ZOOMS, value=1, key="zoom", format_func=lambda z: f"{z}x")
    st.segmented_control("Stretch", images.STRETCHES, default="asinh", key="stretch")
    st.select_slider(
        "Contrast", label_card.CONTRASTS, value=1, key="contrast", format_func=lambda c: f"{c}x"
    )
if first is None:
    st.button("Check again", key="check_again")
    st.stop()

galaxy = first.galaxy
if galaxy.wavelength is not None:
    with st.expander(f"Spectrum of {plain(galaxy.source_id)} in detail: zoom, smoothing"):
        model_z = first.posterior.redshift if first.posterior is not None else None
        smooth = st.select_slider(
            "Smoothing", SMOOTHING, value=1, key="smooth",
            format_func=lambda n: "none" if n == 1 else f"{n} pixels",
        )  # fmt: skip
        st.vega_lite_chart(
            spec=spectrum_spec(
                galaxy.wavelength,
                galaxy.flux,
                galaxy.ivar,
                z=galaxy.spec_z if galaxy.spec_z is not None else model_z,
                flux_unit=galaxy.flux_unit or "arbitrary",
                smooth=smooth,
            ),
            width="stretch",
        )
        st.caption(label_flow.redshift_caption(galaxy.spec_z, model_z, first.posterior))

if missing := held[len(ready) :]:
    for item in missing:
        label_card.drawn(settings, db, item, look, active)
    st.rerun()  # send the cards just built
