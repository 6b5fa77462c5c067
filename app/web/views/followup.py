"""Follow-up: tonight's spectroscopic targets under a telescope budget (any signed-in user may
plan), their sky positions and downloads; saving the queue, marking targets observed and
ingesting returned spectra are for admins."""

import datetime as dt
from functools import partial

import streamlit as st

from app.services.followup import admin as followup_admin
from app.services.followup.night import LOW_DEG, SITES
from app.web import followup_flow, session
from app.web.followup_flow import DOWNLOADS, FLASH_KEY, PLAN_KEY, UPLOAD_ROUND_KEY
from app.web.text import plain
from bayes.followup import SNModel
from storage.db import session_scope

user = session.current_user(st.session_state)
db = session.engine()
settings = session.settings()
state = st.session_state

st.title("Spectroscopic follow-up")
survey = session.pick_survey(db, "followup_survey")
with session_scope(db) as s:
    tasks = followup_admin.regression_tasks(s, survey)
if not tasks:
    st.info(f"{plain(survey)} has no regression task for a spectrum to pin down.")
    st.stop()
task = st.sidebar.selectbox("Task", tasks, key="followup_task")

if flash := state.pop(FLASH_KEY, None):
    getattr(st, flash[0])(flash[1])

with st.form("plan_form"):
    columns = st.columns(4)
    budget = columns[0].radio("Budget in", ["hours", "fibers"], key="budget_kind", horizontal=True)
    amount = columns[1].number_input(
        "Budget (hours or fibers)", min_value=0.0, value=8.0, step=1.0, key="budget_amount"
    )
    snr = columns[2].number_input(
        "Target S/N per pixel", min_value=0.1, value=SNModel.snr_target, key="snr"
    )
    overhead = columns[3].number_input(
        "Overhead per target (s)", min_value=0.0, value=SNModel.overhead_s, key="overhead"
    )
    where = st.columns([1, 1, 2])
    site = where[0].selectbox("Site", list(SITES), key="site")
    date = where[1].date_input("Night of (local evening)", value=dt.datetime.now(dt.UTC).date(),
                               key="night")  # fmt: skip
    above_only = where[2].checkbox(
        f"Only galaxies above {LOW_DEG:g}° that night", value=True, key="above_only",
        help="Leave out galaxies that never rise above airmass 2 in the night's dark hours.",
    )  # fmt: skip
    pressed = st.form_submit_button("Plan", type="primary")
if pressed:
    with st.spinner("Predicting every galaxy without a spectrum…"):
        followup_flow.plan(
            state, settings, survey, task, budget=budget, amount=amount, snr=snr,
            overhead_s=overhead, site=site, date=date, above_only=above_only,
        )  # fmt: skip
    if flash := state.pop(FLASH_KEY, None):
        getattr(st, flash[0])(flash[1])

plan = state.get(PLAN_KEY)
if plan is not None and (plan.survey, plan.task) == (survey, task):
    st.subheader("Ranked targets")
    st.caption(followup_flow.plan_summary(plan))
    if words := plan.night_summary():
        st.caption(words)
    st.dataframe(followup_flow.plan_frame(plan), hide_index=True, width="stretch", height=300)
    if len(plan):
        st.vega_lite_chart(spec=followup_flow.sky_spec(plan), width="stretch")
    with st.container(horizontal=True):
        for name, (suffix, mime, layout) in DOWNLOADS.items():
            tag = "" if layout == "galactive" else f"_{layout}"
            st.download_button(
                f"Download {name}",
                # built on click, and no rerun: a rerun would rebuild every file and could
                # drop the one the browser is still fetching
                data=partial(followup_admin.export_bytes, plan, suffix, layout=layout),
                on_click="ignore",
                file_name=f"targets_{plan.survey}_{plan.task}{tag}{suffix}",
                mime=mime,
                key=f"download{tag}_{suffix[1:]}",
            )
        if user.is_admin:
            st.button(
                "Save as the follow-up queue",
                key="save_queue",
                type="primary",
                help="Replace the pending follow-up queue with this plan.",
                on_click=followup_flow.save,
                args=(state, db, user.id),
            )

st.subheader("Follow-up queue")
with session_scope(db) as s:
    items = followup_admin.followup_queue(s, survey, task)
if not items:
    st.caption(
        "No follow-up queue saved yet (a retrain or “Save as the follow-up queue” makes it)."
    )
else:
    st.dataframe(followup_flow.queue_frame(items), hide_index=True, width="stretch")
    open_items = [i for i in items if i.status in followup_admin.OPEN]
    if user.is_admin and open_items:
        st.multiselect(
            "Observed targets",
            open_items,
            format_func=lambda i: i.source_id,
            key="observed_choice",
        )
        st.button(
            "Mark observed",
            key="mark_observed",
            on_click=followup_flow.mark_observed,
            args=(state, db, user.id, "observed_choice"),
        )

st.subheader("Returned spectra")
limit_mb = followup_admin.MAX_UPLOAD_BYTES // 2**20
if user.is_admin:
    uploaded = st.file_uploader(
        f"SDSS spec-PLATE-MJD-FIBER.fits files (at most {limit_mb} MB each)",
        type=["fits"],
        accept_multiple_files=True,
        max_upload_size=limit_mb,
        key=f"spectra_upload_{state.get(UPLOAD_ROUND_KEY, 0)}",
    )
    if uploaded:
        files = [(f.name, f.getvalue()) for f in uploaded]
        st.button(
            f"Ingest {len(files)} spectrum file{'s' if len(files) != 1 else ''}",
            key="ingest_spectra",
            type="primary",
            help="Validated like `galactive ingest spectra`: one bad file and nothing is written.",
            on_click=followup_flow.ingest_uploads,
            args=(state, settings, user.id, survey, files),
        )
else:
    st.info(
        "Only an admin can save the queue, mark targets observed or ingest spectra.",
        icon=":material/lock:",
    )
