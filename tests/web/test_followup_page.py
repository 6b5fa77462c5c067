"""The follow-up page through ``streamlit.testing`` on SQLite and PostgreSQL: planning under a
budget (any signed-in user), the ranked list, sky plot and downloads, and the admin actions
(save the queue, mark observed, ingest uploaded spectra all-or-nothing)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from app.config import Settings
from app.services.followup import admin as followup_admin
from app.services.followup.night import SITES
from app.web import followup_flow
from storage.errors import IngestError
from storage.models import Galaxy, Ingest, QueueItem, Spectrum
from tests.ingest.conftest import SPECOBJ_ROW, spec_arrays
from tests.web.markdown import shown
from tests.web.test_pages import open_page, rows, user_id
from tests.worker.conftest import World

PAGE = "views/followup.py"
SPEC_NAME = "spec-0266-51602-0003.fits"


@pytest.fixture(scope="module")
def site(shared_site: World) -> World:
    return shared_site


def spec_file(*, flux: np.ndarray | None = None, fiber: int = 3) -> bytes:
    """An SDSS spec-PLATE-MJD-FIBER.fits in the DR8+ layout (as tests/ingest writes them)."""
    cols = spec_arrays()
    if flux is not None:
        cols["flux"] = flux
    primary = fits.PrimaryHDU()
    for key, value in {"PLATEID": 266, "MJD": 51602, "FIBERID": fiber, "RUN2D": "26",
                       "PLUG_RA": 146.71421, "PLUG_DEC": -1.0413043}.items():  # fmt: skip
        primary.header[key] = value
    coadd = fits.table_to_hdu(Table(cols))
    coadd.name = "COADD"
    row = {**SPECOBJ_ROW, "FIBERID": fiber}
    meta = fits.table_to_hdu(Table({k: [v] for k, v in row.items()}))
    meta.name = "SPECOBJ"
    out = io.BytesIO()
    fits.HDUList([primary, coadd, meta]).writeto(out)
    return out.getvalue()


def open_followup(name: str) -> AppTest:
    return open_page(name, PAGE)


def plan(at: AppTest, hours: float = 2.0) -> AppTest:
    at.number_input(key="budget_amount").set_value(hours)
    at.button(key="FormSubmitter:plan_form-Plan").click().run()
    assert not at.exception
    return at


def messages(at: AppTest, kind: str) -> str:
    return shown(" ".join(str(m.value) for m in at.get(kind)))


def counts(settings: Settings) -> tuple[int, int, int]:
    """(galaxies, spectra, ingests) in the database."""
    return rows(
        settings,
        select(
            select(func.count(Galaxy.id)).scalar_subquery(),
            select(func.count(Spectrum.id)).scalar_subquery(),
            select(func.count(Ingest.id)).scalar_subquery(),
        ),
    )[0]


def followup_status(settings: Settings) -> dict[str, int]:
    found = rows(
        settings,
        select(QueueItem.status, func.count())
        .where(QueueItem.queue == "followup")
        .group_by(QueueItem.status),
    )
    return dict(found)


def test_a_labeler_plans_and_sees_targets_sky_and_downloads(app_settings: Settings) -> None:
    at = plan(open_followup("bob"))
    (targets, *_) = at.dataframe
    table = targets.value
    assert len(table) >= 1 and list(table["rank"]) == list(range(1, len(table) + 1))
    assert (table["exposure (s)"] > 0).all() and table["r (mag)"].notna().all()
    hours = (table["exposure (s)"].sum() + 300 * len(table)) / 3600
    assert hours <= 2.0 + 1e-6
    assert len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")) == 1  # the sky
    assert "targets from mock-v2" in messages(at, "caption")
    # tonight at the default site: the dark hours and how high each target gets
    assert f"{next(iter(SITES))}, night of " in messages(at, "caption")
    assert "targets rise above 30° (airmass below 2)" in messages(at, "caption")
    up = table["hours above 30°"]
    assert ((up >= 0) & (up <= 14)).all()
    assert (table["best airmass"].dropna() >= 1.0).all()
    labels = {b.label for b in at.get("download_button")}
    assert labels == {
        "Download CSV",
        "Download FITS",
        "Download VOTable",
        "Download DESI targets (FITS)",
        "Download 4MOST catalogue (FITS)",
    }
    keys = {b.key for b in at.button}
    assert not {"save_queue", "mark_observed", "ingest_spectra"} & keys
    assert not at.get("file_uploader") and not at.multiselect
    assert "Only an admin can save the queue" in messages(at, "info")


def test_export_bytes_are_readable_target_lists(app_settings: Settings) -> None:
    at = plan(open_followup("ada"))
    result = at.session_state[followup_flow.PLAN_KEY]
    for suffix, fmt in ((".csv", "ascii.csv"), (".fits", "fits"), (".vot", "votable")):
        table = Table.read(io.BytesIO(followup_admin.export_bytes(result, suffix)), format=fmt)
        assert list(table["id"].astype(str)) == list(result.source_id)
        assert np.allclose(table["exposure_s"], result.exposure_s)
    buttons = {b.label for b in at.get("download_button")}
    assert {"Download DESI targets (FITS)", "Download 4MOST catalogue (FITS)"} <= buttons
    for layout, first in (("desi", "TARGETID"), ("4most", "NAME")):
        data = followup_admin.export_bytes(result, ".fits", layout=layout)
        assert Table.read(io.BytesIO(data), format="fits").colnames[0] == first


def test_a_fiber_budget_caps_the_targets(app_settings: Settings) -> None:
    at = open_followup("ada")
    at.radio(key="budget_kind").set_value("fibers")
    at = plan(at, 3)
    (targets, *_) = at.dataframe
    assert len(targets.value) <= 3
    at.number_input(key="budget_amount").set_value(0.0)
    at.button(key="FormSubmitter:plan_form-Plan").click().run()
    assert not at.exception


def test_admin_saves_the_queue_and_marks_targets_observed(app_settings: Settings) -> None:
    at = plan(open_followup("ada"))
    at.button(key="save_queue").click().run()
    n = len(at.session_state[followup_flow.PLAN_KEY])
    assert f"{n} pending targets" in messages(at, "success")
    assert followup_status(app_settings) == {"pending": n}
    chooser = at.multiselect(key="observed_choice")
    chooser.select(chooser.options[0]).run()
    at.button(key="mark_observed").click().run()
    assert not at.exception
    assert "1 target marked observed" in messages(at, "success")
    assert followup_status(app_settings) == {"pending": n - 1, "observed": 1}
    observed = rows(app_settings, select(QueueItem.galaxy_id).where(QueueItem.status == "observed"))
    at = plan(at)  # an observed galaxy is never planned again
    planned = at.session_state[followup_flow.PLAN_KEY].galaxy_id.tolist()
    assert observed[0][0] not in planned


def test_upload_ingests_a_valid_spectrum(app_settings: Settings) -> None:
    at = open_followup("ada")
    galaxies, spectra, ingests = counts(app_settings)
    at.file_uploader(key="spectra_upload_0").set_value((SPEC_NAME, spec_file(), "application/fits"))
    at.run()
    at.button(key="ingest_spectra").click().run()
    assert not at.exception
    assert f"Ingested 1 file into mock (ingest {ingests + 1}" in messages(at, "success")
    assert counts(app_settings) == (galaxies + 1, spectra + 1, ingests + 1)
    source = rows(app_settings, select(Ingest.source, Ingest.kind).where(Ingest.id == ingests + 1))[
        0
    ]
    assert (source.source, source.kind) == (f"upload: {SPEC_NAME}", "spectra")
    assert "ingest_spectra" not in {b.key for b in at.button}  # the uploader was cleared


@pytest.mark.parametrize(
    ("upload", "expected"),
    [
        ("corrupt", f"Nothing was ingested: file {SPEC_NAME}"),
        ("nan", f"Nothing was ingested: file {SPEC_NAME}"),
        ("oversized", "MB limit per file"),
    ],
)
def test_a_bad_upload_shows_the_error_and_writes_nothing(
    app_settings: Settings, upload: str, expected: str
) -> None:
    good = spec_file(fiber=4)
    if upload == "corrupt":
        data = good[: len(good) // 2]
    elif upload == "nan":
        flux = spec_arrays()["flux"]
        flux[7] = np.nan
        data = spec_file(flux=flux)
    else:
        data = good + bytes(followup_admin.MAX_UPLOAD_BYTES)
    before = counts(app_settings)
    at = open_followup("ada")
    at.file_uploader(key="spectra_upload_0").set_value(
        [("spec-0266-51602-0004.fits", good, "application/fits"),
         (SPEC_NAME, data, "application/fits")]
    )  # fmt: skip
    at.run()
    at.button(key="ingest_spectra").click().run()
    assert not at.exception
    error = messages(at, "error")
    assert expected in error, error
    assert counts(app_settings) == before  # all or nothing: the good file was not ingested


def test_the_nan_error_names_row_and_column(app_settings: Settings) -> None:
    flux = spec_arrays()["flux"]
    flux[7] = np.nan
    ada = user_id(app_settings, "ada")
    with pytest.raises(IngestError, match=rf"file {SPEC_NAME}.*column") as err:
        followup_admin.ingest_uploads_as(
            app_settings, ada, "mock", [(SPEC_NAME, spec_file(flux=flux))]
        )
    assert "/tmp" not in str(err.value)  # the uploaded name, not the temporary copy


def test_a_labeler_cannot_act_through_the_services(app_settings: Settings) -> None:
    at = plan(open_followup("ada"))
    result = at.session_state[followup_flow.PLAN_KEY]
    bob = user_id(app_settings, "bob")
    engine = app_settings.engine()
    before = counts(app_settings), followup_status(app_settings)
    with pytest.raises(PermissionError):
        followup_admin.save_plan_as(engine, bob, result)
    with pytest.raises(PermissionError):
        followup_admin.mark_observed_as(engine, bob, [1])
    with pytest.raises(PermissionError):
        followup_admin.ingest_uploads_as(app_settings, bob, "mock", [(SPEC_NAME, spec_file())])
    engine.dispose()
    assert (counts(app_settings), followup_status(app_settings)) == before
