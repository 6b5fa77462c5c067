"""Catalog maps as astronomers have them: magnitudes (AB and SDSS asinh) with errors as
photometry, Galactic extinction, row-number ids, and the errors that name what to add."""

from __future__ import annotations

import os
from pathlib import Path

import kcorrect
import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from storage.errors import IngestError
from storage.ingest.catalog.column_map import Element
from storage.ingest.catalog.magnitudes import (
    POGSON,
    SDSS_SOFTENING,
    ab_to_flux,
    asinh_to_flux,
    flux_to_ab,
    flux_to_asinh,
)
from storage.ingest.catalog.read import ColumnMap, read_catalog

KCORRECT_FILE = Path(os.path.dirname(kcorrect.__file__)) / "data/test/gst_tests_small.fits"
BANDS = ("u", "g", "r", "i", "z")
B = np.array([SDSS_SOFTENING[b] for b in BANDS])


def kcorrect_rows(n: int) -> Table:
    """The first ``n`` galaxies of kcorrect's SDSS test catalog."""
    return Table.read(KCORRECT_FILE)[:n]


def read_one(path: Path, spec: str, **kwargs):
    (bundle,) = read_catalog(path, ColumnMap.from_spec(spec), **kwargs)
    return bundle


def test_conversions_match_the_definitions():
    flux, ivar = ab_to_flux(np.array([22.5, 20.0, np.nan]), np.array([0.1, 0.05, 0.1]))
    np.testing.assert_allclose(flux, [1.0, 10.0, 0.0])
    np.testing.assert_allclose(ivar, [1 / (0.1 / POGSON) ** 2, 1 / (0.5 / POGSON) ** 2, 0.0])
    # asinh magnitudes: the inverse of the SDSS definition, and AB for bright objects
    f = np.array([-0.3, 0.0, 0.05, 1.0, 1e4])
    mags = flux_to_asinh(f, 0.12)
    back, ivar = asinh_to_flux(mags, np.full(5, 0.02), 0.12)
    np.testing.assert_allclose(back, f, atol=1e-12)
    np.testing.assert_allclose(ivar, 1 / (0.02 * np.sqrt(f**2 + 4 * 0.12**2) / POGSON) ** 2)
    assert abs(mags[-1] - flux_to_ab(f[-1:])[0]) < 1e-6
    assert np.isnan(flux_to_ab(np.array([0.0, -1.0]))).all()


def test_asinh_magnitudes_alone_round_trip_kcorrect_fluxes(tmp_path):
    """SDSS luptitudes made from kcorrect's MODELFLUX, stored as float32 like SDSS does,
    come back as the extinction-corrected fluxes and feed the photometry."""
    rows = kcorrect_rows(500)
    flux = np.asarray(rows["MODELFLUX"], dtype=np.float64)
    sigma = 1 / np.sqrt(np.asarray(rows["MODELFLUX_IVAR"], dtype=np.float64))
    ext = np.asarray(rows["EXTINCTION"], dtype=np.float64)
    table = Table(
        {
            "RA": rows["RA"],
            "DEC": rows["DEC"],
            "MAG": flux_to_asinh(flux, B).astype(np.float32),
            "MAG_ERR": (POGSON * sigma / np.sqrt(flux**2 + 4 * B**2)).astype(np.float32),
            "EXTINCTION": rows["EXTINCTION"],
        }
    )
    path = tmp_path / "luptitudes.fits"
    table.write(path)
    bundle = read_one(
        path,
        "id=@row,ra=RA,dec=DEC,mag=MAG[u,g,r,i,z],mag_err=MAG_ERR,mag_type=asinh,"
        "extinction=EXTINCTION,ref_band=r",
    )
    (phot,) = bundle.photometry
    assert phot.bands == BANDS and phot.units == "nanomaggy"
    factor = 10 ** (0.4 * ext)
    # float32 magnitudes carry ~1e-6 mag: relative 1e-6 of sqrt(f^2 + 4b^2) in flux
    tolerance = 1e-5 * np.sqrt(flux**2 + 4 * B**2) * factor
    assert np.all(np.abs(phot.flux - flux * factor) <= tolerance)
    expected_ivar = np.asarray(rows["MODELFLUX_IVAR"], dtype=np.float64) / factor**2
    np.testing.assert_allclose(phot.ivar, expected_ivar, rtol=1e-4)
    assert list(bundle.galaxies.source_ids) == [str(i) for i in range(500)]
    bright = flux[:, 2] > 1.0
    np.testing.assert_allclose(
        bundle.galaxies.ref_mag[bright], 22.5 - 2.5 * np.log10(flux[bright, 2] * factor[bright, 2]),
        atol=1e-4,
    )  # fmt: skip


def test_ab_magnitudes_per_band_missing_values_are_missing_bands(tmp_path):
    path = tmp_path / "mags.csv"
    path.write_text(
        "ra,dec,mg,mr,eg,er,ag,ar\n"
        "10,1,20.0,21.0,0.1,0.2,0.1,0.2\n"
        "11,2,,19.0,0.1,,0.1,0.2\n"  # g magnitude and r error missing
        "12,3,22.5,22.5,0.05,0.05,0.0,0.0\n"
    )
    bundle = read_one(
        path,
        "id=@row,ra=ra,dec=dec,mag.g=mg,mag.r=mr,mag_err.g=eg,mag_err.r=er,"
        "extinction.g=ag,extinction.r=ar",
    )
    (phot,) = bundle.photometry
    assert phot.bands == ("g", "r")
    dereddened = np.array([20.0 - 0.1, 21.0 - 0.2])
    np.testing.assert_allclose(phot.flux[0], 10 ** (-0.4 * (dereddened - 22.5)), rtol=1e-6)
    np.testing.assert_array_equal(phot.flux[1], [0.0, 0.0])
    np.testing.assert_array_equal(phot.ivar[1], [0.0, 0.0])
    np.testing.assert_allclose(phot.flux[2], [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(phot.ivar[2], 1 / (0.05 / POGSON) ** 2, rtol=1e-6)
    np.testing.assert_allclose(bundle.galaxies.magnitudes["g"], [19.9, np.nan, 22.5])
    np.testing.assert_allclose(bundle.galaxies.magnitudes["r"], [20.8, 18.8, 22.5])


def test_with_fluxes_the_fluxes_are_the_photometry_and_magnitudes_are_dereddened(tmp_path):
    rows = kcorrect_rows(20)
    rows["MAG_R"] = np.full(20, 18.0)
    path = tmp_path / "both.fits"
    rows.write(path)
    bundle = read_one(
        path,
        "id=@row,ra=RA,dec=DEC,flux=MODELFLUX[u,g,r,i,z],flux_ivar=MODELFLUX_IVAR,"
        "mag.r=MAG_R,ref_band=r,extinction=EXTINCTION",
    )
    factor = 10 ** (0.4 * np.asarray(rows["EXTINCTION"], dtype=np.float64))
    np.testing.assert_allclose(bundle.photometry[0].flux, rows["MODELFLUX"] * factor, rtol=1e-6)
    np.testing.assert_allclose(bundle.galaxies.ref_mag, 18.0 - rows["EXTINCTION"][:, 2], rtol=1e-6)


def test_ref_band_without_magnitudes_computes_them_from_fluxes(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("ra,dec,fr,ir\n1,1,10,1\n2,2,-1,1\n3,3,10,0\n")
    bundle = read_one(path, "id=@row,ra=ra,dec=dec,flux.r=fr,flux_ivar.r=ir,ref_band=r")
    np.testing.assert_allclose(bundle.galaxies.ref_mag, [20.0, np.nan, np.nan])
    assert set(bundle.galaxies.magnitudes) == {"r"}


def test_row_ids_count_data_rows_across_chunks(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("ra,dec\n" + "".join(f"{i},0\n" for i in range(7)))
    bundles = list(read_catalog(path, ColumnMap.from_spec("id=@row,ra=ra,dec=dec"), chunk_size=3))
    ids = [i for b in bundles for i in b.galaxies.source_ids]
    assert ids == ["0", "1", "2", "3", "4", "5", "6"]


def test_from_spec_vector_keys_take_their_bands_from_fluxes_and_magnitudes():
    m = ColumnMap.from_spec(
        "id=@row,ra=a,dec=d,flux=F[g,r],flux_ivar=V,mag=M[g,r],mag_err=E,extinction=A,"
        "mag_type=asinh,softening.r=0.2"
    )
    assert m.row_ids and m.mags == {"g": Element("M", 0, 2), "r": Element("M", 1, 2)}
    assert m.mag_err == {"g": Element("E", 0, 2), "r": Element("E", 1, 2)}
    assert m.extinction == {"g": Element("A", 0, 2), "r": Element("A", 1, 2)}
    assert m.softening == {"r": 0.2}
    only_mags = ColumnMap.from_spec("id=i,ra=a,dec=d,mag.y=MY,mag_err.y=EY,extinction=A")
    assert only_mags.extinction == {"y": Element("A", 0, 1)}


@pytest.mark.parametrize(("spec", "match"), [
    ("id=i,ra=a,dec=d,mag=M[u,g]", r"mag_err=COL .*mag_err\.u=COL,mag_err\.g=COL"),
    ("id=i,ra=a,dec=d,mag=M[g,y],mag_err=E,mag_type=asinh", r"softening\.y=B"),
    ("id=i,ra=a,dec=d,mag=M[g],mag_err=E,softening.g=0.1", "mag_type=asinh"),
    ("id=i,ra=a,dec=d,mag=M[g],mag_err=E,mag_type=asinh,softening.g=-1", "positive"),
    ("id=i,ra=a,dec=d,mag=M[g],mag_err=E,mag_type=vega", "mag_type"),
    ("id=i,ra=a,dec=d,flux=F[g,r],flux_ivar=V,extinction.g=A", r"lacks band\(s\) \['r'\]"),
    ("id=i,ra=a,dec=d,extinction=A[g]", "without fluxes or magnitudes"),
    ("id=i,ra=a,dec=d,mag=M", "needs its bands"),
    ("ra=a,dec=d", "id=@row"),
    ("id=i,flux=F[g],flux_ivar=V", "no ra/dec mapped"),
    ("id=i,ra=a,dec=d,extinction=A", "needs its bands"),
])  # fmt: skip
def test_incomplete_maps_say_what_to_add(spec, match):
    with pytest.raises(ValueError, match=match):
        ColumnMap.from_spec(spec)


def test_asinh_magnitudes_in_other_bands_use_the_given_softening(tmp_path):
    path = tmp_path / "y.csv"
    path.write_text("ra,dec,my,ey\n1,1,22.0,0.1\n")
    mags = float(flux_to_asinh(np.array([3.0]), 2.0)[0])
    path.write_text(f"ra,dec,my,ey\n1,1,{mags!r},0.1\n")
    bundle = read_one(
        path, "id=@row,ra=ra,dec=dec,mag.y=my,mag_err.y=ey,mag_type=asinh,softening.y=2.0"
    )
    np.testing.assert_allclose(bundle.photometry[0].flux, [[3.0]], rtol=1e-6)


@pytest.mark.parametrize(("value", "match"), [
    (-0.01, "negative extinction"),
    (np.nan, "non-finite extinction"),
    (np.inf, "non-finite extinction"),
])  # fmt: skip
def test_bad_extinction_names_file_row_and_column(tmp_path, value, match):
    rows = kcorrect_rows(10)
    rows["EXTINCTION"][6, 3] = value
    path = tmp_path / "ext.fits"
    rows.write(path)
    spec = (
        "id=@row,ra=RA,dec=DEC,flux=MODELFLUX[u,g,r,i,z],flux_ivar=MODELFLUX_IVAR,"
        "extinction=EXTINCTION"
    )
    with pytest.raises(IngestError, match=match) as err:
        read_one(path, spec)
    assert (err.value.file, err.value.row, err.value.column) == (str(path), 6, "EXTINCTION")
    assert "band 'i'" in str(err.value)


def test_masked_extinction_is_refused(tmp_path):
    table = Table({"ra": [1.0, 2.0], "dec": [0.0, 0.0], "f": [1.0, 2.0], "v": [1.0, 1.0]})
    table["a"] = MaskedColumn([0.1, 0.2], mask=[False, True])
    path = tmp_path / "m.vot"
    table.write(path, format="votable")
    with pytest.raises(IngestError, match="missing or non-finite extinction") as err:
        read_one(path, "id=@row,ra=ra,dec=dec,flux.r=f,flux_ivar.r=v,extinction.r=a")
    assert (err.value.row, err.value.column) == (1, "a")


def test_bad_magnitude_errors_and_sentinels_are_named(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("ra,dec,m,e\n1,1,20,0.1\n2,2,20,-0.1\n")
    spec = "id=@row,ra=ra,dec=dec,mag.r=m,mag_err.r=e"
    with pytest.raises(IngestError, match="magnitude error") as err:
        read_one(path, spec)
    assert (err.value.row, err.value.column) == (1, "e")
    path.write_text("ra,dec,m,e\n1,1,20,0.1\n2,2,-9999,0.1\n")
    with pytest.raises(IngestError, match="exceeds float32") as err:
        read_one(path, spec)
    assert (err.value.row, err.value.column) == (1, "m")


def test_vector_magnitude_column_of_the_wrong_width(tmp_path):
    path = tmp_path / "w.fits"
    Table({"ra": [1.0], "dec": [1.0], "M": [[20.0, 21.0, 22.0]], "E": [[0.1] * 3]}).write(path)
    with pytest.raises(IngestError, match=r"\(3,\) per row but 2 bands \['g', 'r'\]") as err:
        read_one(path, "id=@row,ra=ra,dec=dec,mag=M[g,r],mag_err=E")
    assert err.value.column == "M"
