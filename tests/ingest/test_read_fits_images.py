"""FITS cutout reader: both layouts round-trip exactly; every refused input is named."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from storage.errors import IngestError, IngestWarning
from storage.ingest.fits_images import read_fits_images


def test_per_band_layout_round_trips(write_cutout, cutout_values):
    path = write_cutout()
    (bundle,) = read_fits_images([path])
    (images,) = bundle.images
    assert bundle.source == str(path)
    assert images.bands == ("g", "r", "z")
    assert list(images.source_ids) == ["J150-2"]
    np.testing.assert_array_equal(images.pixels[0], cutout_values(0, 3, (8, 10)))
    assert images.pixels.dtype == np.float32
    np.testing.assert_array_equal(images.ivar, np.full((1, 3, 8, 10), 4.0, dtype=np.float32))
    assert images.pixel_scale == pytest.approx(0.262)
    assert images.units == "nanomaggy"
    assert bundle.galaxies.ra[0] == pytest.approx(150.1)
    assert bundle.galaxies.dec[0] == pytest.approx(2.2)


def test_header_position_wins_over_wcs(write_cutout):
    (bundle,) = read_fits_images([write_cutout(radec=(33.5, -4.25))])
    assert (bundle.galaxies.ra[0], bundle.galaxies.dec[0]) == (33.5, -4.25)


def test_bands_argument_selects_and_orders(write_cutout, cutout_values):
    (bundle,) = read_fits_images([write_cutout()], bands=["z", "g"])
    images = bundle.images[0]
    assert images.bands == ("z", "g")
    expected = cutout_values(0, 3, (8, 10))
    np.testing.assert_array_equal(images.pixels[0], expected[[2, 0]])


def test_filter_keyword_names_band(write_cutout):
    (bundle,) = read_fits_images([write_cutout(use_extname=False, ivar=False)])
    assert bundle.images[0].bands == ("g", "r", "z")
    assert bundle.images[0].ivar is None


def test_cube_layout_round_trips(write_cube, cutout_values):
    path = write_cube()
    (bundle,) = read_fits_images([path])
    (images,) = bundle.images
    assert images.bands == ("g", "r", "z")
    assert list(images.source_ids) == ["cube1"]
    np.testing.assert_array_equal(images.pixels[0], cutout_values(1, 3, (6, 6)))
    assert images.ivar[0, 0, 0, 0] == 2.0
    assert bundle.galaxies.ra[0] == pytest.approx(10.0)
    assert images.pixel_scale == pytest.approx(0.262)


def test_cube_band_names_from_argument(write_cube):
    (bundle,) = read_fits_images([write_cube(bands=None)], bands=("u", "g", "r"))
    assert bundle.images[0].bands == ("u", "g", "r")


def test_groups_by_bands_and_shape(write_cutout):
    a = write_cutout("a.fits", objid="a", seed=1)
    b = write_cutout("b.fits", objid="b", seed=2)
    c = write_cutout("c.fits", objid="c", shape=(5, 5))
    (bundle,) = read_fits_images([a, b, c])
    shapes = sorted((tuple(im.source_ids), im.pixels.shape) for im in bundle.images)
    assert shapes == [(("a", "b"), (2, 3, 8, 10)), (("c",), (1, 3, 5, 5))]
    assert list(bundle.galaxies.source_ids) == ["a", "b", "c"]


def test_chunks_bound_bundle_size(write_cutout):
    paths = [write_cutout(f"g{i}.fits", objid=f"g{i}") for i in range(5)]
    bundles = list(read_fits_images(paths, chunk_files=2))
    assert [sum(len(im.source_ids) for im in b.images) for b in bundles] == [2, 2, 1]


def test_no_position_gives_images_without_galaxies(write_cutout):
    with pytest.warns(IngestWarning, match="BUNIT"):
        (bundle,) = read_fits_images(
            [write_cutout(wcs=False, objid=None, bunit=None)], pixel_scale=0.2
        )
    assert bundle.galaxies is None
    assert list(bundle.images[0].source_ids) == ["gal1"]  # the file stem
    assert bundle.images[0].units == "unknown"
    assert bundle.images[0].pixel_scale == 0.2


def test_pixscale_keyword(write_cube):
    (bundle,) = read_fits_images([write_cube(wcs=False, pixscale=0.168)])
    assert bundle.images[0].pixel_scale == pytest.approx(0.168)
    assert bundle.galaxies is None


def test_no_pixel_scale_is_an_error(write_cutout):
    path = write_cutout(wcs=False)
    with pytest.raises(IngestError, match="pixel_scale") as err:
        list(read_fits_images([path]))
    assert err.value.file == str(path)


def test_not_fits_by_signature(tmp_path):
    path = tmp_path / "cutout.fits"
    path.write_text("objid,ra\n1,2\n")
    with pytest.raises(IngestError, match="not a FITS file") as err:
        list(read_fits_images([path]))
    assert err.value.file == str(path)


def test_no_image_hdu_names_hdus(tmp_path):
    path = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([
        fits.Column(name="a", format="E", array=np.ones(3))
    ], name="CAT")]).writeto(path)  # fmt: skip
    with pytest.raises(IngestError, match=r"no image HDU.*HDU 1 \('CAT'\)"):
        list(read_fits_images([path]))


def test_bands_of_different_shapes(write_cutout):
    path = write_cutout(band_shapes={"r": (4, 4)}, ivar=False)
    with pytest.raises(IngestError, match=r"different shapes.*HDU 2 \('R'\) \(4, 4\)"):
        list(read_fits_images([path]))


def test_nan_pixels_counted_and_located(write_cutout):
    def poison(pixels, _):
        pixels[1, 3, 4] = np.nan
        pixels[2, 0, 0] = np.inf

    path = write_cutout(mutate=poison)
    with pytest.raises(IngestError, match=r"2 non-finite.*index \(1, 3, 4\)") as err:
        list(read_fits_images([path]))
    assert err.value.file == str(path)


def test_negative_ivar(write_cutout):
    def poison(_, ivar):
        ivar[0, 2, 2] = -1.0

    with pytest.raises(IngestError, match="negative inverse variance"):
        list(read_fits_images([write_cutout(mutate=poison)]))


def test_wrong_dimensionality(tmp_path):
    path = tmp_path / "four_d.fits"
    fits.PrimaryHDU(np.zeros((2, 2, 3, 3), dtype=np.float32)).writeto(path)
    with pytest.raises(IngestError, match="HDU 0 has 4 dimension"):
        list(read_fits_images([path], pixel_scale=0.2))


def test_duplicate_band(write_cutout):
    with pytest.raises(IngestError, match="duplicate band 'g'"):
        list(read_fits_images([write_cutout(bands=("g", "r", "g"), ivar=False)]))


def test_cube_band_count_mismatch(write_cube):
    with pytest.raises(IngestError, match=r"3 planes \(NAXIS3\) but 2 band names"):
        list(read_fits_images([write_cube(bands=None)], bands=("g", "r")))


def test_duplicate_galaxy_across_files_names_both(write_cutout):
    a = write_cutout("a.fits", objid="same")
    b = write_cutout("b.fits", objid="same")
    with pytest.raises(IngestError, match="duplicate id 'same'") as err:
        list(read_fits_images([a, b]))
    assert err.value.file == str(b)
    assert str(a) in str(err.value)


def test_missing_requested_band(write_cutout):
    with pytest.raises(IngestError, match=r"\['i'\] requested"):
        list(read_fits_images([write_cutout()], bands=("g", "i")))


def test_bad_pixel_scale_argument():
    with pytest.raises(ValueError, match="pixel_scale"):
        list(read_fits_images([], pixel_scale=-1.0))
