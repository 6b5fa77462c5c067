"""What the follow-up page does on a click and the tables and sky plot it draws, apart from
Streamlit (``state`` is ``st.session_state`` in the app, a dict in tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import MutableMapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from app.config import Settings
from app.services.followup import admin as followup_admin
from app.services.followup.admin import FollowupItem
from app.services.followup.night import LOW_DEG, night
from app.services.followup.plan import FollowupPlan, plan_followup
from app.web.text import plain
from bayes.followup import SNModel
from storage.errors import IngestError

PLAN_KEY = "followup_plan"
FLASH_KEY = "followup_flash"
UPLOAD_ROUND_KEY = "followup_upload_round"  # bumped to clear the uploader after an ingest
FITS_MIME = "application/fits"
DOWNLOADS = {  # button -> (suffix, MIME type, layout: app.services.followup.export.LAYOUTS)
    "CSV": (".csv", "text/csv", "galactive"),
    "FITS": (".fits", FITS_MIME, "galactive"),
    "VOTable": (".vot", "application/x-votable+xml", "galactive"),
    "DESI targets (FITS)": (".fits", FITS_MIME, "desi"),
    "4MOST catalogue (FITS)": (".fits", FITS_MIME, "4most"),
}


def plan(
    state: MutableMapping[str, Any],
    settings: Settings,
    survey: str,
    task: str,
    *,
    budget: str,
    amount: float,
    snr: float,
    overhead_s: float,
    site: str | None = None,
    date: dt.date | None = None,
    above_only: bool = True,
) -> None:
    """Plan tonight's targets under a budget of ``amount`` hours or fibers (``budget``) and keep
    the plan in ``state`` (read-only: any signed-in user may plan), for the night at ``site``
    starting on ``date`` (with ``above_only``, only galaxies that rise above LOW_DEG in it);
    a bad input is reported."""
    try:
        tonight = night(site, date) if site is not None and date is not None else None
        sn = SNModel(snr_target=snr, overhead_s=overhead_s)
        hours = float(amount) if budget == "hours" else None
        fibers = int(amount) if budget == "fibers" else None
        state[PLAN_KEY] = plan_followup(
            settings, survey, task=task, sn_model=sn, budget_hours=hours, budget_fibers=fibers,
            tonight=tonight, above_only=above_only,
        )  # fmt: skip
    except ValueError as err:
        state.pop(PLAN_KEY, None)
        state[FLASH_KEY] = ("error", f"No plan: {plain(err)}.")


def plan_summary(result: FollowupPlan) -> str:
    """One sentence on what the plan spends and what it expects to learn."""
    return (
        f"{len(result)} targets from {result.model_version} among {result.n_candidates} "
        f"galaxies without spectra ({result.n_excluded} too faint or without an r magnitude, "
        f"{result.n_no_gain} with nothing to gain): {result.hours:.2f} h of telescope time "
        f"at S/N {result.sn_model.snr_target:g} with {result.sn_model.overhead_s:g} s overhead "
        f"per target; expected gain {result.expected_gain.sum():.2f} nats about "
        f"{result.task}."
    )


def plan_frame(result: FollowupPlan) -> pd.DataFrame:
    """The ranked targets: galaxy, position, magnitude, exposure, gain and gain per hour, and
    for a plan made for a night the best airmass in it and the hours above LOW_DEG."""
    frame = pd.DataFrame(
        {
            "rank": range(1, len(result) + 1),
            "galaxy": result.source_id,
            "ra (°)": result.ra,
            "dec (°)": result.dec,
            "r (mag)": result.mag.round(2),
            "exposure (s)": result.exposure_s.round(0),
            "expected gain (nats)": result.expected_gain.round(3),
            "gain per hour (nats/h)": result.gain_per_hour.round(2),
        }
    )
    if result.best_airmass is not None and result.hours_up is not None:
        frame["best airmass"] = result.best_airmass.round(2)
        frame[f"hours above {LOW_DEG:g}°"] = result.hours_up.round(1)
    return frame


def sky_spec(result: FollowupPlan) -> dict[str, Any]:
    """A Vega-Lite sky plot of the targets: RA (increasing to the left, as on the sky) against
    Dec, each point sized by its expected gain and coloured by gain per hour."""
    values = [
        {"galaxy": str(g), "ra": float(r), "dec": float(d), "gain": float(e),
         "per_hour": float(p), "rank": k + 1}
        for k, (g, r, d, e, p) in enumerate(
            zip(result.source_id, result.ra, result.dec, result.expected_gain,
                result.gain_per_hour, strict=True)
        )
    ]  # fmt: skip
    return {
        "data": {"values": values},
        "mark": {"type": "circle", "opacity": 0.75, "stroke": "#222", "strokeWidth": 0.5},
        "encoding": {
            "x": {"field": "ra", "type": "quantitative", "title": "RA (deg)",
                  "scale": {"reverse": True, "zero": False}},
            "y": {"field": "dec", "type": "quantitative", "title": "Dec (deg)",
                  "scale": {"zero": False}},
            "size": {"field": "gain", "type": "quantitative", "title": "expected gain (nats)",
                     "scale": {"zero": False}},  # the legend spans the gains, not 0 to them
            "color": {"field": "per_hour", "type": "quantitative", "title": "nats per hour",
                      "scale": {"scheme": "viridis"}},
            "tooltip": [{"field": "rank"}, {"field": "galaxy"},
                        {"field": "ra", "format": ".5f"}, {"field": "dec", "format": ".5f"},
                        {"field": "gain", "format": ".3f"}, {"field": "per_hour", "format": ".3f"}],
        },
        "height": 360,
    }  # fmt: skip


def queue_frame(items: Sequence[FollowupItem]) -> pd.DataFrame:
    """The saved follow-up queue: galaxy, position, exposure, gain, status and version."""
    return pd.DataFrame(
        {
            "galaxy": [i.source_id for i in items],
            "ra (°)": [i.ra for i in items],
            "dec (°)": [i.dec for i in items],
            "exposure (s)": [None if i.exposure_s is None else round(i.exposure_s) for i in items],
            "expected gain (nats)": [i.expected_gain for i in items],
            "gain per hour (nats/h)": [i.gain_per_hour for i in items],
            "status": [i.status for i in items],
            "model version": [i.model_version or "" for i in items],
        }
    )


def save(state: MutableMapping[str, Any], db: Engine, user_id: int) -> None:
    """Save the plan in ``state`` as the pending follow-up queue, as ``user_id``."""
    result = state.get(PLAN_KEY)
    if result is None:
        state[FLASH_KEY] = ("warning", "Plan first, then save.")
        return
    try:
        queued = followup_admin.save_plan_as(db, user_id, result)
    except PermissionError as err:
        state[FLASH_KEY] = ("error", f"Not allowed: {plain(err)}.")
        return
    state[FLASH_KEY] = (
        "success",
        f"Follow-up queue for {plain(result.task)}: {queued} pending targets.",
    )


def mark_observed(
    state: MutableMapping[str, Any], db: Engine, user_id: int, select_key: str
) -> None:
    """Mark the follow-up items chosen in ``state[select_key]`` observed, as ``user_id``."""
    chosen: list[FollowupItem] = list(state.get(select_key) or [])
    if not chosen:
        state[FLASH_KEY] = ("warning", "Choose the targets that were observed first.")
        return
    try:
        n = followup_admin.mark_observed_as(db, user_id, [i.id for i in chosen])
    except PermissionError as err:
        state[FLASH_KEY] = ("error", f"Not allowed: {plain(err)}.")
        return
    state[select_key] = []
    state[FLASH_KEY] = ("success", f"{n} target{'s' if n != 1 else ''} marked observed.")


def ingest_uploads(
    state: MutableMapping[str, Any],
    settings: Settings,
    user_id: int,
    survey: str,
    files: Sequence[tuple[str, bytes]],
) -> None:
    """Ingest uploaded spectrum files (name, bytes) into ``survey`` as ``user_id``, all or
    nothing; the error names the file, row and column of bad input."""
    try:
        summary = followup_admin.ingest_uploads_as(settings, user_id, survey, files)
    except PermissionError as err:
        state[FLASH_KEY] = ("error", f"Not allowed: {plain(err)}.")
        return
    except IngestError as err:
        state[FLASH_KEY] = ("error", f"Nothing was ingested: {plain(err)}")
        return
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items())
    state[UPLOAD_ROUND_KEY] = state.get(UPLOAD_ROUND_KEY, 0) + 1
    state[FLASH_KEY] = (
        "success",
        f"Ingested {len(files)} file{'s' if len(files) != 1 else ''} into {plain(survey)} "
        f"(ingest {summary.ingest_id}: {counts}).",
    )
