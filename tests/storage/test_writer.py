"""The ingest writer on both databases: round trips, and all-or-nothing on bad input."""

from __future__ import annotations

from collections.abc import Iterator

import h5py
import numpy as np
import pytest
from sqlalchemy import Engine, select

from storage.arrays import ArrayStore, RowRef, SpanRef
from storage.db import session_scope
from storage.errors import IngestError
from storage.ingest.records import (
    Bundle,
    GalaxyRecords,
    ImageRecords,
    PhotometryRecords,
    SpectrumRecord,
    TaskSpec,
    ValueRecords,
)
from storage.ingest.writer import ingest
from storage.models import Galaxy, ImageCutout, Label, Photometry, Spectrum, Task, Truth
from tests.snapshots import state

BANDS = ("u", "g", "r", "i", "z")
MORPH = TaskSpec("morphology", "classification", classes=("elliptical", "spiral"))
REDSHIFT = TaskSpec("redshift", "regression", target="redshift")


def _bundle(ids: list[str], rng: np.random.Generator, *, source: str = "chunk.fits") -> Bundle:
    n = len(ids)
    sid = np.array(ids)
    wave = 10 ** np.arange(3.58, 3.96, 1e-3)
    return Bundle(
        source=source,
        galaxies=GalaxyRecords(
            sid, rng.uniform(0, 360, n), rng.uniform(-90, 90, n), rng.uniform(14, 18, n), "r"
        ),
        images=[
            ImageRecords(
                sid,
                rng.normal(size=(n, 5, 8, 8)).astype(np.float32),
                BANDS,
                0.396,
                "nanomaggy",
                ivar=np.ones((n, 5, 8, 8), np.float32),
            )
        ],
        spectra=[
            SpectrumRecord(
                ids[0], wave, rng.normal(size=wave.size), np.ones(wave.size), "test", redshift=0.1
            )
        ],
        photometry=[PhotometryRecords(sid, rng.normal(size=(n, 5)), np.ones((n, 5)), BANDS)],
        values=[
            ValueRecords(MORPH, sid, rng.integers(0, 2, n).astype(float), truth_kind="truth"),
            ValueRecords(
                REDSHIFT,
                sid,
                rng.uniform(0, 0.3, n),
                stats={"P16": np.zeros(n)},
                truth_kind="truth",
            ),
            ValueRecords(REDSHIFT, sid[:1], np.array([0.1]), label_source="spectroscopy"),
        ],
    )


def test_round_trip_reads_back_every_array(engine: Engine, store: ArrayStore) -> None:
    rng = np.random.default_rng(0)
    first, second = _bundle(["a", "b", "c"], rng), _bundle(["d", "e"], rng, source="two.fits")
    summary = ingest(engine, store, "s", [first, second], kind="test", source="unit")
    assert summary.counts == {
        "galaxies": 5,
        "images": 5,
        "spectra": 2,
        "photometry": 5,
        "values": 12,
        "duplicates": 0,
    }
    with session_scope(engine) as session:
        rows = session.execute(
            select(Galaxy.source_id, ImageCutout).join(ImageCutout).order_by(Galaxy.source_id)
        ).all()
        refs = [RowRef(summary.array_file, img.dataset, img.row) for _, img in rows]
        pixels = store.read_rows(refs[::-1], "pixels")[::-1]  # any order comes back right
        expected = np.concatenate([first.images[0].pixels, second.images[0].pixels])
        np.testing.assert_array_equal(pixels, expected)
        spec = session.scalars(select(Spectrum).order_by(Spectrum.id)).all()[1]
        wave, flux, _ = store.read_spectrum(
            SpanRef(summary.array_file, spec.dataset, spec.offset, spec.length)
        )
        np.testing.assert_array_equal(flux, second.spectra[0].flux.astype(np.float32))
        np.testing.assert_allclose(wave, second.spectra[0].wavelength)
        phot = session.scalars(select(Photometry).order_by(Photometry.id)).all()
        flux = store.read_rows([RowRef(summary.array_file, p.dataset, p.row) for p in phot], "flux")
        np.testing.assert_array_equal(flux[3:], second.photometry[0].flux)
        truth = session.scalars(select(Truth).join(Task).where(Task.name == "redshift")).all()
        assert len(truth) == 5 and all(t.stats == {"P16": 0.0} for t in truth)
        labels = session.scalars(select(Label)).all()
        assert {lab.source for lab in labels} == {"spectroscopy"} and len(labels) == 2


def test_one_galaxy_reads_only_its_own_chunk(engine: Engine, store: ArrayStore) -> None:
    summary = ingest(
        engine,
        store,
        "s",
        [_bundle(list("abcd"), np.random.default_rng(1))],
        kind="test",
        source="unit",
    )
    with h5py.File(store.root / summary.array_file) as f:
        images = f["images/u-g-r-i-z_8x8/pixels"]
        assert images.chunks == (1, 5, 8, 8)


def _failing(bundles: list[Bundle]) -> Iterator[Bundle]:
    yield from bundles
    raise IngestError("corrupt HDU 2", file="bad.fits", row=3, column="flux")


def _bad_cases(rng: np.random.Generator) -> dict[str, tuple[list[Bundle] | Iterator[Bundle], str]]:
    good = _bundle(["a", "b"], rng)
    wrong_shape = _bundle(["x", "y"], rng)
    wrong_shape.images = [
        ImageRecords(np.array(["x", "y"]), np.zeros((2, 4, 8, 8)), BANDS, 0.4, "n")
    ]
    bad_class = _bundle(["p", "q"], rng)
    bad_class.values = [
        ValueRecords(MORPH, np.array(["p", "q"]), np.array([0.0, 7.0]), truth_kind="truth")
    ]
    conflict = _bundle(["k", "l"], rng)
    conflict.values = [
        ValueRecords(
            TaskSpec("morphology", "regression"),
            np.array(["k"]),
            np.array([1.0]),
            truth_kind="truth",
        )
    ]
    orphan = Bundle(
        source="orphan.fits",
        spectra=[SpectrumRecord("nobody", np.arange(3.0), np.zeros(3), np.ones(3), "test")],
    )
    return {
        "duplicate id in one ingest": ([good, _bundle(["b"], rng)], "duplicate galaxy id 'b'"),
        "reader fails mid-stream": (_failing([good]), "corrupt HDU 2"),
        "wrong image shape": ([good, wrong_shape], "pixels have shape"),
        "class index out of range": ([good, bad_class], "class index 7.0 outside"),
        "task kind conflict": ([good, conflict], "task 'morphology' exists as classification"),
        "unknown galaxy": ([good, orphan], "unknown galaxy id 'nobody'"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "duplicate id in one ingest",
        "reader fails mid-stream",
        "wrong image shape",
        "class index out of range",
        "task kind conflict",
        "unknown galaxy",
    ],
)
def test_bad_input_leaves_nothing_behind(engine: Engine, store: ArrayStore, case: str) -> None:
    ingest(
        engine,
        store,
        "s",
        [_bundle(["z0", "z1"], np.random.default_rng(2))],
        kind="test",
        source="earlier",
    )
    before = state(engine, store)
    bundles, message = _bad_cases(np.random.default_rng(3))[case]
    with pytest.raises(IngestError, match=message):
        ingest(engine, store, "s", bundles, kind="test", source="unit")
    assert state(engine, store) == before


def test_existing_id_is_an_error_for_catalogs_and_a_match_for_images(
    engine: Engine, store: ArrayStore
) -> None:
    rng = np.random.default_rng(4)
    ingest(engine, store, "s", [_bundle(["a", "b"], rng)], kind="catalog", source="first")
    before = state(engine, store)
    with pytest.raises(IngestError, match="already in survey 's'") as err:
        ingest(engine, store, "s", [_bundle(["c", "b"], rng)], kind="catalog", source="again")
    assert (err.value.row, err.value.column, err.value.file) == (1, "id", "chunk.fits")
    assert state(engine, store) == before
    with pytest.raises(IngestError, match="already has truth for task 'morphology'"):
        ingest(
            engine,
            store,
            "s",
            [_bundle(["b"], rng)],
            kind="images",
            source="more",
            on_existing="match",
        )
    assert state(engine, store) == before
    images_only = _bundle(["b"], rng)
    images_only.values = []
    summary = ingest(
        engine, store, "s", [images_only], kind="images", source="more", on_existing="match"
    )
    assert summary.counts["galaxies"] == 0 and summary.counts["images"] == 1


def test_read_rows_dense_and_sparse_selections_agree(store: ArrayStore) -> None:
    """A dense selection is read as one slice, a sparse one point by point: same rows back."""
    writer = store.writer()
    data = np.arange(400 * 3, dtype=np.float64).reshape(400, 3)
    group, first = writer.append_photometry(["g", "r", "i"], data, data)
    name = writer.commit()
    # dense (span 4 <= 4 x 4), sparse, a run of consecutive rows (one slice, returned as read)
    for rows in ([5, 3, 3, 4, 6], [0, 399, 200, 0], list(range(10, 20)), [19, 18, 17]):
        got = store.read_rows([RowRef(name, group, first + r) for r in rows], "flux")
        np.testing.assert_array_equal(got, data[rows])


def test_empty_value_records_write_no_rows(engine: Engine, store: ArrayStore) -> None:
    """A chunk with no spectra has no spectroscopic labels: nothing to write, no empty row."""
    bundle = _bundle(["a", "b"], np.random.default_rng(0))
    bundle.values = [
        *bundle.values,
        ValueRecords(
            REDSHIFT, np.array([], dtype="<U1"), np.array([]), label_source="spectroscopy"
        ),
        ValueRecords(MORPH, np.array([], dtype="<U1"), np.array([]), truth_kind="simulated_expert"),
    ]
    ingest(engine, store, "s", [bundle], kind="test", source="unit")
    with session_scope(engine) as session:
        labels = session.scalars(select(Label)).all()
        assert [lab.task_id is not None for lab in labels] == [True]  # one real label, no blank
        assert len(session.scalars(select(Truth)).all()) == 4  # 2 morphology + 2 redshift
