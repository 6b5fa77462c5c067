"""Property: whatever bytes a reader is fed, the only exception it raises is IngestError."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.errors import IngestError
from storage.ingest.catalog.read import ColumnMap, read_catalog
from storage.ingest.detect import detect_format
from storage.ingest.fits_images import read_fits_images
from storage.ingest.hdf5_mmu import read_mmu_hdf5
from storage.ingest.records import TaskSpec
from storage.ingest.rgb_images import read_rgb_images
from storage.ingest.sdss_spectra import read_sdss_spectra


class Blob(bytes):
    """File bytes that print as their length in hypothesis reports."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes>"


FUZZ = settings(
    max_examples=int(os.environ.get("INGEST_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def damaged(valid: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, a truncation of ``valid``, or ``valid`` with a few bytes overwritten."""
    flips = st.lists(
        st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), min_size=1, max_size=8
    )

    def flip(changes: list[tuple[int, int]]) -> bytes:
        data = bytearray(valid)
        for pos, byte in changes:
            data[pos] = byte
        return bytes(data)

    return st.one_of(
        st.binary(max_size=4096),
        st.integers(0, len(valid) - 1).map(lambda n: valid[:n]),
        flips.map(flip),
        st.binary(min_size=1, max_size=64).map(lambda head: head + valid[len(head) :]),
    )


def only_ingest_errors(data: bytes, name: str, read: Callable[[Path], Iterable]) -> None:
    """Write ``data`` as ``name`` and read it: success or IngestError, nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.suppress(IngestError):
                list(read(path))


@pytest.fixture
def spec_bytes(write_spec) -> bytes:
    return Blob(write_spec().read_bytes())


@FUZZ
@given(data=st.data())
def test_sdss_reader_raises_only_ingest_error(spec_bytes, data):
    blob = data.draw(damaged(spec_bytes))
    only_ingest_errors(blob, "spec-0266-51602-0003.fits", lambda p: read_sdss_spectra([p]))


@pytest.fixture
def cutout_bytes(write_cutout, write_cube) -> tuple[bytes, bytes]:
    return Blob(write_cutout().read_bytes()), Blob(write_cube().read_bytes())


@FUZZ
@given(data=st.data())
def test_fits_image_reader_raises_only_ingest_error(cutout_bytes, data):
    valid = data.draw(st.sampled_from(cutout_bytes))
    blob = data.draw(damaged(valid))
    only_ingest_errors(blob, "gal.fits", lambda p: read_fits_images([p]))


@pytest.fixture
def rgb_bytes(write_rgb) -> tuple[bytes, bytes]:
    return Blob(write_rgb().read_bytes()), Blob(write_rgb("g.jpg", fmt="JPEG").read_bytes())


@FUZZ
@given(data=st.data())
def test_rgb_reader_raises_only_ingest_error(rgb_bytes, data):
    blob = data.draw(damaged(data.draw(st.sampled_from(rgb_bytes))))
    only_ingest_errors(blob, "gal.png", lambda p: read_rgb_images([p], pixel_scale=0.262))


@pytest.fixture
def mmu_bytes(write_mmu) -> bytes:
    return Blob(write_mmu().read_bytes())


@FUZZ
@given(data=st.data())
def test_mmu_reader_raises_only_ingest_error(mmu_bytes, data):
    blob = data.draw(damaged(mmu_bytes))
    only_ingest_errors(blob, "001-of-001.hdf5", lambda p: read_mmu_hdf5(p, chunk_size=2))


@pytest.fixture
def catalog_bytes(write_catalog) -> dict[str, bytes]:
    return {
        fmt: Blob(write_catalog(fmt).read_bytes()) for fmt in ("fits", "csv", "parquet", "votable")
    }


MAPPINGS = {
    "csv": ColumnMap.from_spec(
        "id=objid,ra=ra,dec=dec,flux.u=flux_u,flux.g=flux_g,flux_ivar.u=flux_ivar_u,"
        "flux_ivar.g=flux_ivar_g,truth.redshift=z,truth.morphology=morph"
    ),
    "other": ColumnMap.from_spec(
        "id=objid,ra=ra,dec=dec,flux=flux[u,g,r,i,z],flux_ivar=flux_ivar,truth.redshift=z,"
        "truth.morphology=morph"
    ),
}
TASKS = {"morphology": TaskSpec("morphology", "classification", classes=("elliptical", "spiral"))}


@FUZZ
@given(data=st.data())
def test_catalog_reader_raises_only_ingest_error(catalog_bytes, data):
    fmt = data.draw(st.sampled_from(sorted(catalog_bytes)))
    blob = data.draw(damaged(catalog_bytes[fmt]))
    mapping = MAPPINGS["csv" if fmt == "csv" else "other"]
    only_ingest_errors(blob, "catalog.dat", lambda p: read_catalog(p, mapping, tasks=TASKS))


@FUZZ
@given(blob=st.binary(max_size=1024))
def test_detect_raises_only_ingest_error(blob):
    only_ingest_errors(blob, "x.bin", lambda p: [detect_format(p)])
