"""Catalog reader and ColumnMap: four formats round-trip; every refused input is named."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from storage.errors import IngestError
from storage.ingest.catalog.read import ColumnMap, read_catalog
from storage.ingest.records import TaskSpec

BANDS = ("u", "g", "r", "i", "z")
VECTOR = ColumnMap.from_spec(
    "id=objid,ra=ra,dec=dec,flux=flux[u,g,r,i,z],flux_ivar=flux_ivar,mag.r=mag_r,ref_band=r,"
    "truth.redshift=z,truth.morphology=morph"
)
PER_BAND = ColumnMap(
    id="objid",
    ra="ra",
    dec="dec",
    bands=BANDS,
    fluxes=tuple(f"flux_{b}" for b in BANDS),
    flux_ivar=tuple(f"flux_ivar_{b}" for b in BANDS),
    mags={"r": "mag_r"},
    ref_band="r",
    truth={"redshift": "z", "morphology": "morph"},
)
MORPH = TaskSpec("morphology", "classification", classes=("elliptical", "spiral", "merger"))
TASKS = {"morphology": MORPH}


def read_all(path, mapping=VECTOR, **kwargs):
    return list(read_catalog(path, mapping, tasks=kwargs.pop("tasks", TASKS), **kwargs))


@pytest.mark.parametrize("fmt", ["fits", "csv", "parquet", "votable"])
def test_formats_round_trip(write_catalog, catalog_rows, fmt):
    path = write_catalog(fmt)
    table = catalog_rows()
    (bundle,) = read_all(path, PER_BAND if fmt == "csv" else VECTOR)
    assert bundle.source == str(path)
    galaxies = bundle.galaxies
    assert list(galaxies.source_ids) == [str(i) for i in table["objid"]]
    np.testing.assert_array_equal(galaxies.ra, table["ra"])
    np.testing.assert_array_equal(galaxies.dec, table["dec"])
    np.testing.assert_array_equal(galaxies.ref_mag, table["mag_r"])
    assert galaxies.ref_band == "r"
    (phot,) = bundle.photometry
    assert phot.bands == BANDS and phot.units == "nanomaggy"
    np.testing.assert_array_equal(phot.flux, table["flux"])
    np.testing.assert_array_equal(phot.ivar, table["flux_ivar"])
    values = {v.task.name: v for v in bundle.values}
    assert values["redshift"].truth_kind == "truth"
    assert values["redshift"].task == TaskSpec("redshift", "regression", target="redshift")
    np.testing.assert_array_equal(values["redshift"].values, table["z"])
    expected = [MORPH.classes.index(m) for m in table["morph"]]
    np.testing.assert_array_equal(values["morphology"].values, expected)
    assert values["morphology"].task is MORPH


def test_format_detected_by_signature(write_catalog):
    path = write_catalog("parquet", name="catalog.csv")
    (bundle,) = read_all(path)
    assert len(bundle.galaxies.source_ids) == 12


def test_chunks(write_catalog):
    bundles = read_all(write_catalog("fits"), chunk_size=5)
    assert [len(b.galaxies.source_ids) for b in bundles] == [5, 5, 2]


def test_flux_err_becomes_ivar(write_catalog, catalog_rows):
    table = catalog_rows()
    table["flux_err"] = np.float32(0.5) * np.ones((12, 5), dtype=np.float32)
    mapping = ColumnMap.from_spec("id=objid,ra=ra,dec=dec,flux=flux[u,g,r,i,z],flux_err=flux_err")
    (bundle,) = read_all(write_catalog("fits", table=table), mapping)
    np.testing.assert_array_equal(bundle.photometry[0].ivar, np.full((12, 5), 4.0))


def test_masked_flux_is_missing_measurement(write_catalog, catalog_rows):
    table = catalog_rows()
    flux = MaskedColumn(table["flux"])
    flux.mask[3, 2] = True
    table["flux"] = flux
    (bundle,) = read_all(write_catalog("votable", table=table))
    phot = bundle.photometry[0]
    assert phot.flux[3, 2] == 0 and phot.ivar[3, 2] == 0
    assert phot.ivar[3, 1] > 0


def test_csv_empty_flux_cell_is_missing(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,ra,dec,f_g,iv_g\na,1,2,,3\nb,3,4,5.5,2\n")
    mapping = ColumnMap.from_spec("id=id,ra=ra,dec=dec,flux.g=f_g,flux_ivar.g=iv_g")
    (bundle,) = read_catalog(path, mapping)
    np.testing.assert_array_equal(bundle.photometry[0].flux, [[0.0], [5.5]])
    np.testing.assert_array_equal(bundle.photometry[0].ivar, [[0.0], [2.0]])


def test_labels_and_missing_truth(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,ra,dec,z,morph\na,1,2,0.5,spiral\nb,3,4,,\nc,5,6,0.1,merger\n")
    mapping = ColumnMap.from_spec("id=id,ra=ra,dec=dec,truth.redshift=z,label.morphology=morph")
    (bundle,) = read_catalog(path, mapping, tasks=TASKS)
    values = {v.task.name: v for v in bundle.values}
    assert list(values["redshift"].source_ids) == ["a", "c"]
    assert values["morphology"].label_source == "expert"
    assert values["morphology"].truth_kind is None
    assert list(values["morphology"].source_ids) == ["a", "c"]
    np.testing.assert_array_equal(values["morphology"].values, [1, 2])


def test_unknown_column_lists_available(write_catalog):
    path = write_catalog("fits")
    mapping = ColumnMap.from_spec("id=objid,ra=RA_DEG,dec=dec")
    with pytest.raises(IngestError, match=r"no column 'RA_DEG'.*available columns: objid, ra") as e:
        read_all(path, mapping)
    assert e.value.column == "RA_DEG" and e.value.file == str(path)


def test_column_names_case_insensitive(write_catalog):
    mapping = ColumnMap.from_spec("id=OBJID,ra=RA,dec=Dec")
    (bundle,) = read_all(write_catalog("fits"), mapping)
    assert len(bundle.galaxies.source_ids) == 12


def test_nan_ra(write_catalog, catalog_rows):
    table = catalog_rows()
    table["ra"][7] = np.nan
    with pytest.raises(IngestError, match="non-finite") as err:
        read_all(write_catalog("fits", table=table))
    assert (err.value.row, err.value.column) == (7, "ra")


def test_masked_id(write_catalog, catalog_rows):
    table = catalog_rows()
    table["objid"] = MaskedColumn(table["objid"], mask=[i == 4 for i in range(12)])
    with pytest.raises(IngestError, match="missing id") as err:
        read_all(write_catalog("votable", table=table))
    assert (err.value.row, err.value.column) == (4, "objid")


@pytest.mark.parametrize(("column", "value", "match"), [
    ("ra", 360.0, r"RA value\(s\) outside \[0, 360\)"),
    ("ra", -0.1, "RA"),
    ("dec", 90.5, r"Dec value\(s\) outside \[-90, 90\]"),
])  # fmt: skip
def test_position_range(write_catalog, catalog_rows, column, value, match):
    table = catalog_rows()
    table[column][9] = value
    with pytest.raises(IngestError, match=match) as err:
        read_all(write_catalog("fits", table=table))
    assert (err.value.row, err.value.column) == (9, column)


def test_nan_flux_with_ivar(write_catalog, catalog_rows):
    table = catalog_rows()
    table["flux"][6, 4] = np.inf
    with pytest.raises(IngestError, match=r"non-finite flux.*band 'z'") as err:
        read_all(write_catalog("fits", table=table))
    assert (err.value.row, err.value.column) == (6, "flux")


def test_nan_flux_with_zero_ivar_is_missing(write_catalog, catalog_rows):
    table = catalog_rows()
    table["flux"][6, 4] = np.nan
    table["flux_ivar"][6, 4] = 0.0
    (bundle,) = read_all(write_catalog("fits", table=table))
    assert bundle.photometry[0].flux[6, 4] == 0


def test_negative_ivar(write_catalog, catalog_rows):
    table = catalog_rows()
    table["flux_ivar"][7, 1] = -1.0
    with pytest.raises(IngestError, match="negative") as err:
        read_all(write_catalog("fits", table=table))
    assert (err.value.row, err.value.column) == (7, "flux_ivar")


def test_negative_ivar_per_band_column(write_catalog, catalog_rows):
    table = catalog_rows()
    table["flux_ivar"][7, 1] = -1.0
    with pytest.raises(IngestError, match="negative") as err:
        read_all(write_catalog("csv", table=table), PER_BAND)
    assert (err.value.row, err.value.column) == (7, "flux_ivar_g")


def test_duplicate_ids_give_both_rows(write_catalog, catalog_rows):
    table = catalog_rows()
    table["objid"][10] = table["objid"][2]
    with pytest.raises(IngestError, match=r"rows 2 and 10 \(0-based data rows\)") as err:
        read_all(write_catalog("csv", table=table), PER_BAND, chunk_size=4)
    assert (err.value.row, err.value.column) == (10, "objid")


def test_vector_length_mismatch(write_catalog, catalog_rows):
    table = catalog_rows()
    table["flux"] = table["flux"][:, :3]
    with pytest.raises(IngestError, match=r"\(3,\) per row but 5 bands") as err:
        read_all(write_catalog("fits", table=table))
    assert err.value.column == "flux"


def test_non_numeric_flux(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,ra,dec,f_g,iv_g\na,1,2,1.5,3\nb,3,4,bright,2\n")
    mapping = ColumnMap.from_spec("id=id,ra=ra,dec=dec,flux.g=f_g,flux_ivar.g=iv_g")
    with pytest.raises(IngestError, match="not a number: 'bright'") as err:
        list(read_catalog(path, mapping))
    assert (err.value.row, err.value.column) == (1, "f_g")


def test_unknown_class_string(write_catalog, catalog_rows):
    table = catalog_rows()
    table["morph"][5] = "irregular"
    with pytest.raises(IngestError, match="unknown class 'irregular'") as err:
        read_all(write_catalog("parquet", table=table))
    assert (err.value.row, err.value.column) == (5, "morph")


def test_class_names_without_task_spec(write_catalog):
    with pytest.raises(IngestError, match="pass tasks=") as err:
        read_all(write_catalog("fits"), tasks={})
    assert err.value.column == "morph"


def test_hdf5_is_not_a_catalog(write_mmu):
    with pytest.raises(IngestError, match="HDF5 file is not a catalog"):
        read_all(write_mmu())


def test_garbage_csv(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('a,b\n1,"2\n')
    with pytest.raises(IngestError) as err:
        list(read_catalog(path, ColumnMap("a", "b", "c")))
    assert err.value.file == str(path)


def test_from_spec_syntax():
    m = ColumnMap.from_spec(
        " id=objid , ra=ra, dec=dec, flux.g=FG, flux.r=FR, flux_err.r=ER, flux_err.g=EG,"
        " units=nJy, mag.g=MG, ref_band=g, truth.redshift=z, label.morph=M,"
        " label_source=oracle"
    )
    assert m.bands == ("g", "r")
    assert m.fluxes == ("FG", "FR") and m.flux_err == ("EG", "ER")
    assert m.flux_units == "nJy" and m.mags == {"g": "MG"} and m.ref_band == "g"
    assert m.truth == {"redshift": "z"} and m.labels == {"morph": "M"}
    assert m.label_source == "oracle"
    assert VECTOR.fluxes == "flux" and VECTOR.bands == BANDS and VECTOR.flux_ivar == "flux_ivar"


@pytest.mark.parametrize(("spec", "match"), [
    ("ra=ra,dec=dec", "required"),
    ("id=a,ra=b,dec=c,colour=x", "unknown mapping key 'colour'"),
    ("id=a,ra=b,dec=c,id=d", "given twice"),
    ("id=a,ra=b,dec=c,flux=f", r"needs its bands"),
    ("id=a,ra=b,dec=c,flux=f[u,g]", "exactly one of flux_ivar and flux_err"),
    ("id=a,ra=b,dec=c,flux=f[u,g],flux_ivar=v[g,r]", "differ from flux bands"),
    ("id=a,ra=b,dec=c,flux=f[u,g", "unbalanced"),
    ("id=a,ra=b,dec", "not key=value"),
    ("id=a,ra=b,dec=c,ref_band=r", "ref_band 'r'"),
    ("id=a,ra=b,dec=c,label_source=crowd", "label_source"),
])  # fmt: skip
def test_from_spec_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        ColumnMap.from_spec(spec)


def test_empty_catalog(tmp_path):
    path = tmp_path / "c.fits"
    Table({"id": np.array([], dtype=int), "ra": [], "dec": []}).write(path)
    with pytest.raises(IngestError, match="no rows"):
        list(read_catalog(path, ColumnMap("id", "ra", "dec")))
