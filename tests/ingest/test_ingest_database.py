"""`galactive ingest` end to end on SQLite and PostgreSQL: good files land, bad ones leave
the database and the array store exactly as they were."""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from app.cli import app
from app.services.followup.admin import check_uploads
from storage.arrays import ArrayStore, RowRef, SpanRef
from storage.db import make_engine, session_scope
from storage.errors import IngestError
from storage.ingest import writer
from storage.ingest.records import Bundle, GalaxyRecords, ImageRecords
from storage.ingest.writer import ingest
from storage.models import Galaxy, ImageCutout, Photometry, Spectrum
from tests.ingest.conftest import SPECOBJ_ROW, catalog_table, mmu_data, spec_arrays
from tests.snapshots import state

runner = CliRunner()
CATALOG_MAP = (
    "id=objid,ra=ra,dec=dec,flux=flux[u,g,r,i,z],flux_ivar=flux_ivar,mag.r=mag_r,ref_band=r,"
    "truth.redshift=z,truth.morph=morph"
)
MORPH_CLASSES = "morph=elliptical,spiral,merger"


def _cli(db_url: str, home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", db_url, "--home", str(home), *args])
    return result.exit_code, result.output


def _status(db_url: str, home: Path) -> dict:
    code, out = _cli(db_url, home, "status", "--json")
    assert code == 0, out
    return {s["survey"]: s for s in json.loads(out)["surveys"]}


def test_sdss_spectrum_ingests(db_url: str, tmp_path: Path, write_spec: Callable) -> None:
    path = write_spec()
    code, out = _cli(db_url, tmp_path, "ingest", "spectra", str(path), "--survey", "sdss")
    assert code == 0, out
    survey = _status(db_url, tmp_path)["sdss"]
    assert survey["galaxies"] == 1 and survey["modalities"]["spectra"] == 1
    assert survey["tasks"]["redshift"]["labels"] == {"spectroscopy": 1}
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        spec, gal = session.execute(select(Spectrum, Galaxy).join(Galaxy)).one()
        assert gal.source_id == "0266-51602-0003"
        assert (gal.ra, gal.dec) == pytest.approx((146.71421, -1.0413043))
        assert spec.spec_class == "GALAXY" and spec.redshift == pytest.approx(SPECOBJ_ROW["Z"])
    engine.dispose()
    store = ArrayStore(tmp_path / "arrays")
    (array_file,) = store.files()
    wave, flux, ivar = store.read_spectrum(
        SpanRef(array_file, spec.dataset, spec.offset, spec.length)
    )
    expected = spec_arrays()
    np.testing.assert_allclose(wave, 10 ** expected["loglam"].astype(np.float64), rtol=1e-6)
    np.testing.assert_array_equal(flux, expected["flux"])
    np.testing.assert_array_equal(ivar, expected["ivar"])


def test_the_same_spectrum_ingested_again_is_stored_once(
    db_url: str, tmp_path: Path, write_spec: Callable
) -> None:
    path = write_spec()
    for attempt in range(3):
        code, out = _cli(db_url, tmp_path, "ingest", "spectra", str(path), "--survey", "sdss")
        assert code == 0, out
        assert f"'duplicates': {min(attempt, 1)}" in out and f"'spectra': {int(not attempt)}" in out
    survey = _status(db_url, tmp_path)["sdss"]
    assert survey["modalities"]["spectra"] == 1
    assert survey["tasks"]["redshift"]["labels"] == {"spectroscopy": 1}
    assert len(ArrayStore(tmp_path / "arrays").files()) == 1  # the repeats wrote no arrays


def test_the_same_cutout_twice_is_stored_once_and_a_changed_one_again(
    db_url: str, tmp_path: Path
) -> None:
    engine = make_engine(db_url)
    store = ArrayStore(tmp_path / "arrays")
    pixels = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype(np.float32)

    def images(p: np.ndarray, first: bool) -> Bundle:
        ids = np.array(["a", "b"])
        galaxies = GalaxyRecords(ids, np.array([1.0, 2.0]), np.array([0.0, 0.0])) if first else None
        return Bundle(
            galaxies=galaxies, images=[ImageRecords(ids, p, ("g", "r", "i"), 0.2, "nmgy")]
        )

    counts = []
    for p, first in ((pixels, True), (pixels, False), (pixels + np.float32(1), False)):
        on_existing = "error" if first else "match"
        summary = ingest(engine, store, "s", [images(p, first)], kind="images", source="x",
                         on_existing=on_existing)  # fmt: skip
        counts.append((summary.counts["images"], summary.counts["duplicates"]))
    assert counts == [(2, 0), (0, 2), (2, 0)]
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ImageCutout)) == 4
    engine.dispose()


def test_fits_catalog_with_vector_flux_ingests(
    db_url: str, tmp_path: Path, write_catalog: Callable
) -> None:
    path = write_catalog("fits")
    code, out = _cli(
        db_url, tmp_path, "ingest", "catalog", str(path), "--survey", "cat",
        "--map", CATALOG_MAP, "--classes", MORPH_CLASSES,
    )  # fmt: skip
    assert code == 0, out
    survey = _status(db_url, tmp_path)["cat"]
    assert survey["galaxies"] == 12 and survey["modalities"]["photometry"] == 12
    assert survey["tasks"]["redshift"]["truth"] == 12
    assert survey["tasks"]["morph"]["classes"] == ["elliptical", "spiral", "merger"]
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        rows = session.execute(
            select(Galaxy.source_id, Galaxy.ref_mag, Photometry).join(Photometry)
            .order_by(Galaxy.id)
        ).all()  # fmt: skip
    engine.dispose()
    table = catalog_table()
    assert [r[0] for r in rows] == [str(i) for i in table["objid"]]
    np.testing.assert_allclose([r[1] for r in rows], table["mag_r"])
    store = ArrayStore(tmp_path / "arrays")
    (array_file,) = store.files()
    refs = [RowRef(array_file, p.dataset, p.row) for *_, p in rows]
    np.testing.assert_array_equal(store.read_rows(refs, "flux"), np.asarray(table["flux"]))
    np.testing.assert_array_equal(store.read_rows(refs, "ivar"), np.asarray(table["flux_ivar"]))


def _catalog(edit: Callable[[Table], None]) -> Callable[[Callable], list[str]]:
    """A bad-catalog case: edit the default table, write it as FITS, ingest it."""

    def make(write_catalog: Callable) -> list[str]:
        table = catalog_table()
        edit(table)
        path = write_catalog("fits", table=table, name="bad.fits")
        return ["catalog", str(path), "--map", CATALOG_MAP, "--classes", MORPH_CLASSES]

    return make


def _set(column: str, index: tuple[int, ...], value: object) -> Callable[[Table], None]:
    def edit(table: Table) -> None:
        table[column][index] = value

    return edit


def _duplicate(table: Table) -> None:
    table["objid"][7] = table["objid"][2]


def _short_flux(table: Table) -> None:
    table.replace_column("flux", table["flux"][:, :4])


# case -> (how to make the command, what the error must name)
BAD_CATALOGS = {
    "NaN flux": (_catalog(_set("flux", (3, 2), np.nan)), ["bad.fits", "row 3", "'flux'"]),
    "inf redshift": (_catalog(_set("z", (4,), np.inf)), ["bad.fits", "row 4", "'z'"]),
    "negative ivar": (
        _catalog(_set("flux_ivar", (5, 1), -1.0)),
        ["bad.fits", "row 5", "'flux_ivar'"],
    ),
    "duplicate ids": (_catalog(_duplicate), ["bad.fits", "row 7", "'objid'", "rows 2 and 7"]),
    "wrong shape": (_catalog(_short_flux), ["bad.fits", "'flux'", "5"]),
    "unknown class": (_catalog(_set("morph", (6,), "blob")), ["bad.fits", "row 6", "'blob'"]),
}


@pytest.mark.parametrize("case", list(BAD_CATALOGS))
def test_bad_catalog_leaves_nothing_behind(
    db_url: str, tmp_path: Path, write_catalog: Callable, case: str
) -> None:
    good = write_catalog("fits", name="good.fits")
    code, out = _cli(db_url, tmp_path, "ingest", "catalog", str(good), "--survey", "s",
                     "--map", CATALOG_MAP, "--classes", MORPH_CLASSES)  # fmt: skip
    assert code == 0, out
    engine = make_engine(db_url)
    store = ArrayStore(tmp_path / "arrays")
    before = state(engine, store)
    make, must_name = BAD_CATALOGS[case]
    code, out = _cli(db_url, tmp_path, "ingest", *make(write_catalog), "--survey", "s2")
    assert code == 2, out
    for fragment in must_name:
        assert fragment in out, f"{fragment!r} not in {out!r}"
    assert state(engine, store) == before
    engine.dispose()


def test_ids_already_in_the_survey_are_refused(
    db_url: str, tmp_path: Path, write_catalog: Callable
) -> None:
    path = write_catalog("fits", name="good.fits")
    args = ["ingest", "catalog", str(path), "--survey", "s", "--map", CATALOG_MAP,
            "--classes", MORPH_CLASSES]  # fmt: skip
    assert _cli(db_url, tmp_path, *args)[0] == 0
    engine = make_engine(db_url)
    store = ArrayStore(tmp_path / "arrays")
    before = state(engine, store)
    code, out = _cli(db_url, tmp_path, *args)
    assert code == 2 and "already in survey 's'" in out and "row 0" in out
    assert state(engine, store) == before
    engine.dispose()


def _corrupt_spectrum(tmp_path: Path, write_spec: Callable, **_: Callable) -> list[str]:
    path = write_spec()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return ["spectra", str(path)]


def _negative_ivar_spectrum(tmp_path: Path, write_spec: Callable, **_: Callable) -> list[str]:
    cols = spec_arrays()
    cols["ivar"][17] = -2.0
    return ["spectra", str(write_spec(columns=cols))]


def _unsorted_spectrum(tmp_path: Path, write_spec: Callable, **_: Callable) -> list[str]:
    cols = spec_arrays()
    cols["loglam"][[10, 11]] = cols["loglam"][[11, 10]]
    return ["spectra", str(write_spec(columns=cols))]


def _missing_column_spectrum(tmp_path: Path, write_spec: Callable, **_: Callable) -> list[str]:
    return ["spectra", str(write_spec(drop=("ivar",)))]


def _inf_image(tmp_path: Path, write_spec: Callable, write_cutout: Callable) -> list[str]:
    def mutate(pixels: np.ndarray, _ivar: np.ndarray) -> None:
        pixels[1, 2, 3] = np.inf

    good = write_cutout("ok.fits", objid="g-ok", radec=(10.0, 1.0))
    bad = write_cutout("inf.fits", objid="g-bad", radec=(10.1, 1.0), mutate=mutate)
    return ["images", str(good), str(bad)]


def _unknown_galaxy_png(tmp_path: Path, write_spec: Callable, write_rgb: Callable) -> list[str]:
    return ["images", str(write_rgb("nobody.png")), "--pixel-scale", "0.262"]


def _unknown_mapping_column(
    tmp_path: Path, write_spec: Callable, write_catalog: Callable
) -> list[str]:
    path = write_catalog("fits", name="cat.fits")
    return ["catalog", str(path), "--map", CATALOG_MAP.replace("mag.r=mag_r", "mag.r=mag_x")]


def _missing_mapping_key(
    tmp_path: Path, write_spec: Callable, write_catalog: Callable
) -> list[str]:
    path = write_catalog("fits", name="cat.fits")
    return ["catalog", str(path), "--map", "id=objid,ra=ra,flux=flux[u,g,r,i,z]"]


def _duplicate_hdf5_ids(tmp_path: Path, write_spec: Callable, write_mmu: Callable) -> list[str]:
    data = mmu_data()
    data["object_id"][4] = data["object_id"][1]
    return ["hdf5", str(write_mmu(data=data))]


BAD_FILES = {
    "corrupt spectrum": (_corrupt_spectrum, {}, ["spec-0266-51602-0003.fits"]),
    "negative spectrum ivar": (_negative_ivar_spectrum, {}, ["spec-0266", "'ivar'", "17"]),
    "unsorted wavelengths": (_unsorted_spectrum, {}, ["spec-0266", "'loglam'"]),
    "missing spectrum column": (_missing_column_spectrum, {}, ["spec-0266", "'ivar'"]),
    "inf pixel": (_inf_image, {"write_cutout"}, ["inf.fits"]),
    "unknown galaxy": (_unknown_galaxy_png, {"write_rgb"}, ["nobody.png", "'nobody'"]),
    "unknown mapped column": (_unknown_mapping_column, {"write_catalog"}, ["mag_x"]),
    "missing mapping key": (_missing_mapping_key, {"write_catalog"}, ["dec"]),
    "duplicate hdf5 ids": (_duplicate_hdf5_ids, {"write_mmu"}, ["001-of-001.hdf5", "row 4"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_leaves_nothing_behind(
    db_url: str, tmp_path: Path, write_spec: Callable, request: pytest.FixtureRequest, case: str
) -> None:
    home = tmp_path / "home"
    first = write_spec(
        "spec-0266-51602-0009.fits", header={"FIBERID": 9}, specobj={**SPECOBJ_ROW, "FIBERID": 9}
    )
    assert _cli(db_url, home, "ingest", "spectra", str(first), "--survey", "s")[0] == 0
    engine = make_engine(db_url)
    store = ArrayStore(home / "arrays")
    before = state(engine, store)
    make, fixtures, must_name = BAD_FILES[case]
    extra = {name: request.getfixturevalue(name) for name in fixtures}
    code, out = _cli(db_url, home, "ingest", *make(tmp_path, write_spec, **extra), "--survey", "s")
    assert code == 2, out
    assert "error" in out.lower()
    for fragment in must_name:
        assert fragment in out, f"{fragment!r} not in {out!r}"
    assert state(engine, store) == before
    engine.dispose()


def test_a_large_ingest_refreshes_planner_statistics_on_postgresql(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stale statistics made a million-galaxy PostgreSQL ingest scan the survey once per id
    lookup (>16 min, not 2.4); the ingest ANALYZEs each time it doubles what it added."""
    monkeypatch.setattr(writer, "ANALYZE_FROM", 100)  # instead of 10 000, to stay small
    engine = make_engine(db_url)
    postgres = engine.dialect.name == "postgresql"
    if postgres:  # only the ingest may refresh the statistics during this test
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE galaxies SET (autovacuum_enabled = false)"))
    n = 150

    def chunk(start: int) -> Bundle:
        ids = np.arange(start, start + n).astype(str)
        return Bundle(galaxies=GalaxyRecords(ids, np.zeros(n), np.zeros(n)))

    chunks = [chunk(0), chunk(n), chunk(2 * n)]
    summary = ingest(engine, ArrayStore(tmp_path / "arrays"), "big", chunks, kind="catalog",
                     source="test")  # fmt: skip
    assert summary.counts["galaxies"] == 3 * n
    with session_scope(engine) as session:
        assert session.scalar(select(func.count(Galaxy.id))) == 3 * n
        if postgres:  # analysed at 150 (>= 100) and 300 (>= 2 x 150), not at 450 (< 600)
            tuples = session.scalar(
                text("SELECT reltuples FROM pg_class WHERE relname = 'galaxies'")
            )
            assert tuples == 2 * n
    engine.dispose()


@pytest.mark.parametrize("backend_dbs", ["postgresql"], indirect=True)  # its locks only
def test_an_ingest_skips_the_refresh_while_another_holds_the_statistics_lock(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent ingest's ANALYZE holds its lock until that ingest commits; this one gives
    up on its own refresh after 100 ms instead of waiting (here, for 5 s)."""
    engine = make_engine(db_url)
    assert engine.dialect.name == "postgresql"
    monkeypatch.setattr(writer, "ANALYZE_FROM", 100)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE galaxies SET (autovacuum_enabled = false)"))
    blocker = engine.connect()
    blocker.begin()
    blocker.execute(text("ANALYZE galaxies"))  # holds the lock until it commits
    release = threading.Timer(5.0, blocker.commit)
    release.start()
    try:
        ids = np.arange(150).astype(str)
        bundle = Bundle(galaxies=GalaxyRecords(ids, np.zeros(150), np.zeros(150)))
        summary = ingest(engine, ArrayStore(tmp_path / "arrays"), "big", [bundle],
                         kind="catalog", source="test")  # fmt: skip
    finally:
        release.join()
        blocker.close()
    assert summary.counts["galaxies"] == 150
    with session_scope(engine) as session:
        assert session.scalar(select(func.count(Galaxy.id))) == 150
        # the blocker analysed an empty table; had this ingest waited, it would say 150
        tuples = session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'galaxies'"))
        assert tuples == 0
    engine.dispose()


@pytest.mark.parametrize("name", ["../../escaped", "a/b", ".hidden", "", "x" * 129, "sp ace"])
def test_a_survey_name_that_could_be_a_path_is_refused(
    db_url: str, tmp_path: Path, write_catalog: Callable, name: str
) -> None:
    path = write_catalog("fits", name="good.fits")
    engine = make_engine(db_url)
    store = ArrayStore(tmp_path / "arrays")
    before = state(engine, store)
    code, out = _cli(db_url, tmp_path, "ingest", "catalog", str(path), "--survey", name,
                     "--map", CATALOG_MAP, "--classes", MORPH_CLASSES)  # fmt: skip
    assert code == 2 and "survey name" in out
    assert state(engine, store) == before
    engine.dispose()


@pytest.mark.parametrize("name", ["..", ".", "", "dir/..", "a\x00b"])
def test_an_upload_not_named_as_a_file_is_refused(name: str) -> None:
    with pytest.raises(IngestError, match="not a file name"):
        check_uploads([(name, b"SIMPLE  =")])


@pytest.mark.parametrize("backend_dbs", ["postgresql"], indirect=True)
def test_a_refused_ingest_leaves_no_connection_open(db_url: str, tmp_path: Path) -> None:
    """Refused three times with the garbage collector off: an engine left to it would keep
    its pooled connection to the server open (seen as "too many clients" over a corpus)."""
    bad = tmp_path / "bad.csv"
    bad.write_text("objid,ra,dec\n1,10,1\n")  # no flux columns for the map
    args = ("ingest", "catalog", str(bad), "--survey", "s", "--map", CATALOG_MAP)
    probe = make_engine(db_url)
    count = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )

    def connections() -> int:
        with probe.connect() as conn:
            return int(conn.scalar(count))

    def settled(target: int) -> int:
        """The count once it reaches ``target`` or 5 s have passed: a server backend leaves
        pg_stat_activity a moment after its client hung up (asynchronously, later on a loaded
        machine), while a connection left open stays for good."""
        deadline = time.monotonic() + 5.0
        while (n := connections()) != target and time.monotonic() < deadline:
            time.sleep(0.05)
        return n

    before = connections()
    gc.disable()
    try:
        codes = [_cli(db_url, tmp_path / "home", *args)[0] for _ in range(3)]
        after = settled(before)
    finally:
        gc.enable()
        probe.dispose()
    assert codes == [2, 2, 2] and after == before
