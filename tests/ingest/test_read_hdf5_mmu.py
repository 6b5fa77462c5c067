"""Multimodal Universe HDF5 reader: images, spectra, redshifts; every refused input."""

from __future__ import annotations

import numpy as np
import pytest

from storage.errors import IngestError, IngestWarning
from storage.ingest.hdf5_mmu import read_mmu_hdf5
from storage.ingest.records import TaskSpec


def test_reads_galaxies_images_spectra_and_labels(write_mmu, mmu_datasets):
    path = write_mmu()
    data = mmu_datasets()
    (bundle,) = read_mmu_hdf5(path)
    ids = [str(i + 1000) for i in range(5)]
    assert bundle.source == str(path)
    assert list(bundle.galaxies.source_ids) == ids  # MMU pads ids with spaces: stripped
    np.testing.assert_array_equal(bundle.galaxies.ra, data["ra"])
    np.testing.assert_array_equal(bundle.galaxies.dec, data["dec"])

    (images,) = bundle.images
    assert images.bands == ("DES-G", "DES-R", "DES-Z")
    np.testing.assert_array_equal(images.pixels, data["image_array"])
    np.testing.assert_array_equal(images.ivar, data["image_ivar"])
    assert images.pixel_scale == pytest.approx(0.262)
    assert images.units == "nanomaggy"

    spectra = {s.source_id: s for s in bundle.spectra}
    assert len(spectra) == 5
    assert spectra["1000"].instrument == "desi"
    np.testing.assert_array_equal(spectra["1000"].wavelength, data["spectrum_lambda"][0])
    np.testing.assert_array_equal(spectra["1000"].flux, data["spectrum_flux"][0])
    np.testing.assert_array_equal(spectra["1000"].ivar, data["spectrum_ivar"][0])
    assert len(spectra["1003"].wavelength) == 30  # trailing padding (lambda -1) dropped
    assert spectra["1002"].redshift is None
    assert spectra["1001"].redshift == pytest.approx(0.2)

    (labels,) = bundle.values
    assert labels.task == TaskSpec("redshift", "regression", target="redshift")
    assert labels.label_source == "spectroscopy"
    assert list(labels.source_ids) == ["1000", "1001", "1004"]  # NaN and ZWARNING rows left out
    np.testing.assert_allclose(labels.values, [0.1, 0.2, 0.5], rtol=1e-6)


def test_chunks_of_rows(write_mmu):
    bundles = list(read_mmu_hdf5(write_mmu(), chunk_size=2))
    assert [len(b.galaxies.source_ids) for b in bundles] == [2, 2, 1]
    assert [len(b.spectra) for b in bundles] == [2, 2, 1]


def test_masks_zero_ivar(write_mmu, mmu_datasets):
    data = mmu_datasets()
    data["image_mask"][1, 2, 3, 4] = True
    data["spectrum_mask"][0, 5] = True
    (bundle,) = read_mmu_hdf5(write_mmu(data=data))
    assert bundle.images[0].ivar[1, 2, 3, 4] == 0
    assert bundle.spectra[0].ivar[5] == 0


def test_integer_ids_and_catalog_only(write_mmu, mmu_datasets):
    data = {k: v for k, v in mmu_datasets().items() if k in ("ra", "dec", "Z")}
    data["object_id"] = np.arange(5, dtype=np.int64) + 7
    (bundle,) = read_mmu_hdf5(write_mmu(data=data))
    assert list(bundle.galaxies.source_ids) == ["7", "8", "9", "10", "11"]
    assert bundle.images == [] and bundle.spectra == []
    assert list(bundle.values[0].source_ids) == ["7", "8", "10", "11"]


def test_unknown_instrument_warns(write_mmu):
    with pytest.warns(IngestWarning, match="instrument"):
        (bundle,) = read_mmu_hdf5(write_mmu(attrs={"note": "x"}))
    assert bundle.spectra[0].instrument == "unknown"
    (bundle,) = read_mmu_hdf5(write_mmu("b.hdf5", attrs={"note": "x"}), instrument="sdss")
    assert bundle.spectra[0].instrument == "sdss"


@pytest.mark.parametrize("name", ["object_id", "ra", "dec"])
def test_missing_required_dataset(write_mmu, name):
    path = write_mmu(drop=(name,))
    with pytest.raises(IngestError, match=f"no dataset '{name}'") as err:
        list(read_mmu_hdf5(path))
    assert err.value.column == name and err.value.file == str(path)


def test_inconsistent_first_dimension(write_mmu, mmu_datasets):
    data = mmu_datasets()
    data["spectrum_flux"] = data["spectrum_flux"][:4]
    with pytest.raises(IngestError, match="'spectrum_flux' has 4 rows but 'object_id' has 5") as e:
        list(read_mmu_hdf5(write_mmu(data=data)))
    assert e.value.column == "spectrum_flux"


def test_nan_pixel(write_mmu, mmu_datasets):
    data = mmu_datasets()
    data["image_array"][3, 1, 2, 2] = np.nan
    with pytest.raises(IngestError, match="non-finite") as err:
        list(read_mmu_hdf5(write_mmu(data=data)))
    assert (err.value.row, err.value.column) == (3, "image_array")


def test_nan_pixel_reports_file_row_in_later_chunk(write_mmu, mmu_datasets):
    data = mmu_datasets()
    data["image_array"][3, 0, 0, 0] = np.inf
    with pytest.raises(IngestError) as err:
        list(read_mmu_hdf5(write_mmu(data=data), chunk_size=2))
    assert err.value.row == 3


def test_negative_spectrum_ivar(write_mmu, mmu_datasets):
    data = mmu_datasets()
    data["spectrum_ivar"][2, 7] = -0.5
    with pytest.raises(IngestError, match="negative") as err:
        list(read_mmu_hdf5(write_mmu(data=data)))
    assert (err.value.row, err.value.column) == (2, "spectrum_ivar")


def test_negative_image_ivar(write_mmu, mmu_datasets):
    data = mmu_datasets()
    data["image_ivar"][4, 0, 1, 1] = -2.0
    with pytest.raises(IngestError, match="negative") as err:
        list(read_mmu_hdf5(write_mmu(data=data)))
    assert (err.value.row, err.value.column) == (4, "image_ivar")


def test_nan_flux_with_ivar(write_mmu, mmu_datasets):
    data = mmu_datasets()
    data["spectrum_flux"][1, 3] = np.nan
    with pytest.raises(IngestError, match="ivar > 0") as err:
        list(read_mmu_hdf5(write_mmu(data=data)))
    assert (err.value.row, err.value.column) == (1, "spectrum_flux")


def test_unsorted_lambda(write_mmu, mmu_datasets):
    data = mmu_datasets()
    data["spectrum_lambda"][2, 10] = 100.0
    with pytest.raises(IngestError, match="strictly increasing") as err:
        list(read_mmu_hdf5(write_mmu(data=data)))
    assert (err.value.row, err.value.column) == (2, "spectrum_lambda")


def test_duplicate_object_ids_name_both_rows(write_mmu, mmu_datasets):
    data = mmu_datasets()
    data["object_id"][4] = data["object_id"][1]
    with pytest.raises(IngestError, match="duplicate id '1001': rows 1 and 4") as err:
        list(read_mmu_hdf5(write_mmu(data=data), chunk_size=2))
    assert (err.value.row, err.value.column) == (4, "object_id")


def test_ra_out_of_range(write_mmu, mmu_datasets):
    data = mmu_datasets()
    data["ra"][2] = 360.0
    with pytest.raises(IngestError, match="RA") as err:
        list(read_mmu_hdf5(write_mmu(data=data)))
    assert (err.value.row, err.value.column) == (2, "ra")


def test_not_hdf5(write_spec):
    path = write_spec()
    with pytest.raises(IngestError, match="not an HDF5 file") as err:
        list(read_mmu_hdf5(path))
    assert err.value.file == str(path)
