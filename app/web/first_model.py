"""While a survey's first model is still being fitted: what every page shows instead of an
empty queue, and the reload that brings the model in when its job ends."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from app.services.models import admin as model_admin
from app.services.models.admin import JobView
from app.web.text import plain
from storage.db import session_scope

POLL_SECONDS = 2.0


def progress_line(survey: str, job: JobView) -> str:
    """'The first model of mock is being fitted (job 1, 35%): training: epoch 7/20, ETA 50 s.'"""
    if job.waiting_for_worker:
        return (
            f"The first model of {plain(survey)} is queued (job {job.id}), but no worker has "
            "picked it up yet: start one with `galactive worker`."
        )
    doing = f": {plain(job.message)}" if job.message else ""
    return (
        f"The first model of {plain(survey)} is being fitted "
        f"(job {job.id}, {job.progress:.0%}){doing}."
    )


def waiting(db: Engine) -> dict[str, JobView]:
    """{survey: job} for every survey whose first model a job is fitting now."""
    with session_scope(db) as s:
        return model_admin.first_model_jobs(s)


def show_and_stop(db: Engine, jobs: dict[str, JobView], hint: str) -> None:
    """Show the first-model jobs' progress (``hint`` when there are none), refresh it every
    POLL_SECONDS, rerun the page once a job ends, and stop the page here."""
    if not jobs:
        st.info(hint)
        st.stop()

    @st.fragment(run_every=POLL_SECONDS)
    def live() -> None:
        now = waiting(db)
        if set(now) != set(jobs):
            st.rerun()  # a first model arrived (or its job ended): the page can be itself
        for survey, job in now.items():
            st.progress(job.progress, text=progress_line(survey, job))
        st.caption(
            "The app is usable while the model is fitted; this page fills in by itself when "
            "the job ends."
        )

    live()
    st.stop()
