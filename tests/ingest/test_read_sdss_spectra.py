"""SDSS spec-PLATE-MJD-FIBER.fits reader: exact round trip and every refused input."""

from __future__ import annotations

import numpy as np
import pytest

from storage.errors import IngestError, IngestWarning
from storage.ingest.records import TaskSpec
from storage.ingest.sdss_spectra import read_sdss_spectra


def read_one(path):
    bundles = list(read_sdss_spectra([path]))
    assert len(bundles) == 1
    return bundles[0]


def test_reads_dr8_layout_exactly(write_spec, spec_columns, specobj_row):
    path = write_spec()
    bundle = read_one(path)
    cols = spec_columns()
    (spec,) = bundle.spectra
    assert bundle.source == str(path)
    assert spec.source_id == "0266-51602-0003"
    np.testing.assert_array_equal(spec.wavelength, 10.0 ** cols["loglam"].astype(np.float64))
    np.testing.assert_array_equal(spec.flux, cols["flux"])
    np.testing.assert_array_equal(spec.ivar, cols["ivar"])
    assert spec.flux.dtype == np.float32
    assert spec.instrument == "sdss"
    assert spec.spec_class == "GALAXY"
    assert spec.redshift == pytest.approx(specobj_row["Z"], rel=1e-6)
    assert spec.redshift_err == pytest.approx(specobj_row["Z_ERR"], rel=1e-6)
    assert (spec.ra, spec.dec) == (specobj_row["PLUG_RA"], specobj_row["PLUG_DEC"])
    assert list(bundle.galaxies.source_ids) == ["0266-51602-0003"]
    assert bundle.galaxies.ra[0] == specobj_row["PLUG_RA"]
    (label,) = bundle.values
    assert label.task == TaskSpec("redshift", "regression", target="redshift")
    assert label.label_source == "spectroscopy"
    assert label.values[0] == pytest.approx(specobj_row["Z"], rel=1e-6)


def test_and_mask_zeroes_ivar_and_nan_flux_allowed_there(write_spec, spec_columns):
    cols = spec_columns()
    cols["and_mask"][10] = 1 << 24
    cols["flux"][10] = np.nan
    cols["ivar"][20] = 0.0
    cols["flux"][20] = np.inf
    (spec,) = read_one(write_spec(columns=cols)).spectra
    assert spec.ivar[10] == 0 and spec.ivar[20] == 0
    assert spec.flux[10] == 0 and spec.flux[20] == 0
    assert np.isfinite(spec.flux).all()


def test_zwarning_suppresses_label_but_keeps_redshift(write_spec, specobj_row):
    bundle = read_one(write_spec(specobj={**specobj_row, "ZWARNING": 4}))
    assert bundle.values == []
    assert bundle.spectra[0].redshift == pytest.approx(specobj_row["Z"], rel=1e-6)


def test_without_specobj_uses_header(write_spec):
    bundle = read_one(write_spec(specobj=None))
    spec = bundle.spectra[0]
    assert spec.source_id == "0266-51602-0003"
    assert spec.redshift is None and spec.spec_class is None
    assert bundle.values == []
    assert bundle.galaxies.ra[0] == pytest.approx(146.71421)  # PLUG_RA, not boresight RA


def test_boss_instrument_from_run2d(write_spec, specobj_row):
    row = {k: v for k, v in specobj_row.items() if k != "RUN2D"}
    path = write_spec(specobj={**row, "MJD": 55500}, header={"RUN2D": "v5_7_0", "MJD": 55500})
    with pytest.warns(IngestWarning, match="file name says"):
        spec = read_one(path).spectra[0]
    assert spec.instrument == "boss"
    assert spec.source_id == "0266-55500-0003"


def test_no_position_means_no_galaxies(write_spec, specobj_row):
    row = {k: v for k, v in specobj_row.items() if not k.startswith("PLUG")}
    bundle = read_one(write_spec(specobj=row, header={"PLUG_RA": None, "PLUG_DEC": None}))
    assert bundle.galaxies is None
    assert bundle.spectra[0].ra is None


def test_bad_filename_only_warns(write_spec):
    with pytest.warns(IngestWarning, match="spec-PLATE-MJD-FIBER"):
        bundle = read_one(write_spec("my_spectrum.fits"))
    assert bundle.spectra[0].source_id == "0266-51602-0003"


def test_missing_coadd_hdu(write_spec):
    path = write_spec(coadd_name="OTHER")
    with pytest.raises(IngestError, match="no COADD") as err:
        read_one(path)
    assert err.value.file == str(path)


@pytest.mark.parametrize("column", ["loglam", "flux", "ivar"])
def test_missing_column_named(write_spec, column):
    path = write_spec(drop=(column,))
    with pytest.raises(IngestError, match="COADD") as err:
        read_one(path)
    assert err.value.column == column
    assert err.value.file == str(path)


def test_loglam_not_increasing(write_spec, spec_columns):
    cols = spec_columns()
    cols["loglam"][7] = cols["loglam"][6]
    with pytest.raises(IngestError, match="strictly increasing") as err:
        read_one(write_spec(columns=cols))
    assert (err.value.row, err.value.column) == (7, "loglam")


def test_nan_flux_with_positive_ivar(write_spec, spec_columns):
    cols = spec_columns()
    cols["flux"][42] = np.nan
    with pytest.raises(IngestError, match="ivar > 0") as err:
        read_one(write_spec(columns=cols))
    assert (err.value.row, err.value.column) == (42, "flux")


def test_negative_ivar(write_spec, spec_columns):
    cols = spec_columns()
    cols["ivar"][5] = -1.0
    with pytest.raises(IngestError, match="negative") as err:
        read_one(write_spec(columns=cols))
    assert (err.value.row, err.value.column) == (5, "ivar")


def test_length_mismatch_in_vector_layout(write_spec, spec_columns):
    cols = spec_columns(50)
    vector = {k: v[np.newaxis] for k, v in cols.items()}
    vector["ivar"] = cols["ivar"][np.newaxis, :40]
    with pytest.raises(IngestError, match="differ in length"):
        read_one(write_spec(columns=vector))


def test_not_fits(tmp_path):
    path = tmp_path / "spec-0266-51602-0003.fits"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(IngestError, match="not a FITS file") as err:
        read_one(path)
    assert err.value.file == str(path)


def test_duplicate_spectrum_across_files(write_spec):
    first = write_spec()
    second = write_spec("spec-0266-51602-0003-copy.fits")
    with (
        pytest.warns(IngestWarning),
        pytest.raises(IngestError, match="duplicate id '0266-51602-0003'") as err,
    ):
        list(read_sdss_spectra([first, second]))
    assert str(first) in str(err.value) and err.value.file == str(second)
