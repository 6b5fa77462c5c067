"""Models: every version with its training data and validation metrics, the retrain job's live
progress, activation and rollback (admins), and the top of the label queue it rebuilds."""

import streamlit as st

from app.services.models import admin as model_admin
from app.web import model_flow, session
from app.web.text import plain
from storage.db import session_scope

POLL_SECONDS = 2.0
QUEUE_TOP = 10

user = session.current_user(st.session_state)
db = session.engine()
state = st.session_state

st.title("Models")
survey = session.pick_survey(db, "models_survey")

if flash := state.pop(model_flow.FLASH_KEY, None):
    getattr(st, flash[0])(flash[1])

with session_scope(db) as s:
    rows = model_admin.versions(s, survey)
st.dataframe(model_flow.versions_frame(rows), hide_index=True, width="stretch")
st.caption(
    "Metrics on the validation split: morphology accuracy and ECE (15 bins), redshift σ_NMAD "
    "and 68% / 95% interval coverage. n labels: labels the version was trained on; "
    "watermark: the newest label id it saw. healthy and decision: the fit's checks on the "
    "validation split (loss, recalibration, coverage, skill, against a random forest on the same "
    "labels) and why it was or was not activated, with the validation n."
)

if user.is_admin:
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Retrain")
        st.button(
            "Retrain now",
            key="retrain_now",
            type="primary",
            help="Queue a retrain round: update on the current labels, score the pool, "
            "activate the new version and rebuild the queues (run by `galactive worker`).",
            on_click=model_flow.retrain,
            args=(state, db, user.id, survey),
        )
    with right:
        st.subheader("Activate or roll back")
        choices = [r for r in rows if r.status == "ready" and not r.is_active]
        if not choices:
            st.caption("No other ready version to switch to.")
        else:
            chosen = st.selectbox(
                "Version", choices, format_func=model_flow.version_title, key="activate_choice"
            )
            pending = state.get(model_flow.CONFIRM_KEY)
            if pending is None or pending != chosen.id:
                st.button(
                    f"Activate {plain(chosen.name)}…",
                    key="activate",
                    on_click=model_flow.ask_confirm,
                    args=(state, chosen.id),
                )
            else:
                st.warning(
                    f"Make {plain(chosen.name)} the active version? Its label queues are rebuilt "
                    "from its scores; galaxies labelers hold now stay theirs."
                )
                with st.container(horizontal=True):
                    st.button(
                        f"Confirm: activate {plain(chosen.name)}",
                        key="activate_confirm",
                        type="primary",
                        on_click=model_flow.activate,
                        args=(state, db, user.id, chosen.id, chosen.name),
                    )
                    st.button(
                        "Cancel",
                        key="activate_cancel",
                        on_click=model_flow.cancel_confirm,
                        args=(state,),
                    )
else:
    st.info("Only an admin can retrain or activate a version.", icon=":material/lock:")


@st.fragment(run_every=POLL_SECONDS)
def live() -> None:
    """The retrain job's progress and the label queue's top, polled from the database."""
    with session_scope(db) as s:
        job = model_admin.latest_retrain(s, survey)
        top = model_admin.label_queue_top(s, survey, n=QUEUE_TOP)
    st.subheader("Retrain job")
    if job is None:
        st.caption("No retrain has been requested for this survey.")
    else:
        level, text = model_flow.job_summary(job)
        st.progress(job.progress, text=f"job {job.id}: {job.message or job.status}")
        getattr(st, level)(text)
        if model_flow.finished_since_seen(state, job):
            st.rerun()  # the new version's row and metrics belong in the table above
    st.subheader("Top of the label queue")
    if not top:
        st.caption("The label queue is empty.")
    else:
        st.dataframe(model_flow.queue_frame(top), hide_index=True, width="stretch")
        st.caption("Re-ordered after every retrain: the new version's picks come first.")


live()
