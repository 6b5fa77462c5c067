"""Signature detection and the shared checks."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from storage.errors import IngestError
from storage.ingest.detect import detect_format
from storage.ingest.validate import (
    IdIndex,
    check_finite,
    check_ivar,
    check_ra_dec,
    check_shape,
    check_strictly_increasing,
)


def test_detects_every_format_by_signature(
    write_spec, write_mmu, write_rgb, write_catalog, tmp_path
):
    # Misleading names on purpose: only the bytes decide.
    assert detect_format(write_spec("a.csv")) == "fits"
    assert detect_format(write_mmu("a.fits")) == "hdf5"
    assert detect_format(write_rgb("a.jpg")) == "png"
    assert detect_format(write_rgb("a.png", fmt="JPEG")) == "jpeg"
    assert detect_format(write_catalog("parquet", name="b.fits")) == "parquet"
    assert detect_format(write_catalog("votable", name="b.csv")) == "votable"
    assert detect_format(write_catalog("csv", name="b.parquet")) == "csv"
    fits_gz = tmp_path / "a.fits.gz"
    fits_gz.write_bytes(gzip.compress(write_spec("c.fits").read_bytes()))
    assert detect_format(fits_gz) == "fits"


def test_unknown_binary_and_empty_and_missing(tmp_path):
    blob = tmp_path / "blob"
    blob.write_bytes(b"\x00\x01\x02\xff" * 10)
    with pytest.raises(IngestError, match="unrecognised file format") as err:
        detect_format(blob)
    assert err.value.file == str(blob)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match="empty"):
        detect_format(empty)
    with pytest.raises(IngestError, match="no such file"):
        detect_format(tmp_path / "nope")
    with pytest.raises(IngestError, match="directory"):
        detect_format(tmp_path)


def test_check_finite_names_count_row_and_index():
    values = np.zeros((4, 3))
    values[2, 1] = np.nan
    values[3, 0] = np.inf
    with pytest.raises(
        IngestError, match=r"2 non-finite value\(s\).*first at row 12, index 1"
    ) as e:
        check_finite(values, file="f", column="flux", first_row=10)
    assert (e.value.row, e.value.column, e.value.file) == (12, "flux", "f")


def test_check_finite_only_where_asked():
    values = np.array([np.nan, 1.0])
    check_finite(values, file="f", column="flux", where=np.array([False, True]))


def test_check_ivar_negative_shows_value():
    with pytest.raises(IngestError, match=r"negative inverse variance.*\(-2\.0\)") as err:
        check_ivar(np.array([1.0, -2.0]), file="f", column="ivar")
    assert err.value.row == 1


def test_check_unrowed_positions():
    pixels = np.zeros((2, 3, 3))
    pixels[1, 2, 0] = np.nan
    with pytest.raises(IngestError, match=r"first at index \(1, 2, 0\)") as err:
        check_finite(pixels, file="f", column=None, label="the pixels", first_row=None)
    assert err.value.row is None


def test_check_strictly_increasing_per_row():
    grid = np.array([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0]])
    with pytest.raises(IngestError, match="not strictly increasing") as err:
        check_strictly_increasing(grid, file="f", column="lam", first_row=5)
    assert err.value.row == 6


def test_check_ra_dec_bounds():
    check_ra_dec([0.0, 359.99], [-90.0, 90.0], file="f")
    with pytest.raises(IngestError, match="RA"):
        check_ra_dec([360.0], [0.0], file="f")
    with pytest.raises(IngestError, match="Dec"):
        check_ra_dec([1.0], [-90.01], file="f")


def test_check_shape():
    check_shape(np.zeros((3, 4)), (3, -1), file="f", column="x")
    with pytest.raises(IngestError, match=r"shape \(3, 4\); expected \(3, 5\)"):
        check_shape(np.zeros((3, 4)), (3, 5), file="f", column="x")


def test_id_index_across_chunks_and_files():
    index = IdIndex()
    index.add(["a", "b"], file="one", column="id", first_row=0)
    with pytest.raises(IngestError, match=r"duplicate id 'b': rows 1 and 3") as err:
        index.add(["c", "b"], file="one", column="id", first_row=2)
    assert err.value.row == 3
    with pytest.raises(IngestError, match="row 0 here and row 0 of file one"):
        index.add(["a"], file="two", first_row=0)
    files = IdIndex()
    files.add(["x"], file="a.fits", first_row=None)
    with pytest.raises(IngestError, match=r"here and in file a\.fits"):
        files.add(["x"], file="b.fits", first_row=None)
