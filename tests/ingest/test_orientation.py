"""North and east on a cutout from its WCS, stored with the cutout at ingest."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from storage.ingest.fits_images import read_fits_images
from storage.ingest.orientation import orientation_from_wcs
from tests.ingest.conftest import wcs_header


def rotated(theta_deg: float, *, flip: bool = False) -> WCS:
    """A TAN WCS turned by theta from north up, east left; with ``flip``, east to +x (a
    mirrored image)."""
    header = wcs_header(150.0, 2.0, (32, 32))
    t = np.radians(theta_deg)
    scale = 0.262 / 3600.0
    sign = 1.0 if flip else -1.0
    for key in ("CDELT1", "CDELT2"):
        del header[key]
    header["CD1_1"], header["CD1_2"] = sign * scale * np.cos(t), scale * np.sin(t)
    header["CD2_1"], header["CD2_2"] = -sign * scale * np.sin(t), scale * np.cos(t)
    return WCS(header)


def test_north_up_east_left_is_the_fits_convention() -> None:
    found = orientation_from_wcs(WCS(wcs_header(150.0, 2.0, (32, 32))), (32, 32))
    np.testing.assert_allclose(found.north, (0.0, 1.0), atol=1e-5)
    np.testing.assert_allclose(found.east, (-1.0, 0.0), atol=1e-5)


@pytest.mark.parametrize("theta", [30.0, -75.0, 180.0])
def test_a_rotated_wcs_turns_both_arrows(theta: float) -> None:
    found = orientation_from_wcs(rotated(theta), (32, 32))
    t = np.radians(theta)
    # inverting this CD matrix: north = (sin t, cos t); east is north turned by +90 degrees
    np.testing.assert_allclose(found.north, (np.sin(t), np.cos(t)), atol=1e-4)
    np.testing.assert_allclose(found.east, (-np.cos(t), np.sin(t)), atol=1e-4)


def test_a_mirrored_wcs_puts_east_on_the_other_side() -> None:
    found = orientation_from_wcs(rotated(0.0, flip=True), (32, 32))
    np.testing.assert_allclose(found.north, (0.0, 1.0), atol=1e-5)
    np.testing.assert_allclose(found.east, (1.0, 0.0), atol=1e-5)


def test_no_wcs_no_orientation() -> None:
    assert orientation_from_wcs(None, (8, 8)) is None


def test_fits_ingest_reads_the_orientation(write_cutout) -> None:
    (bundle,) = read_fits_images([write_cutout()])
    (images,) = bundle.images
    assert images.orientation.to_json() == {"north": [0.0, 1.0], "east": [-1.0, 0.0]}
    path = write_cutout("plain.fits", wcs=False, extra_primary={"PIXSCALE": 0.262})
    (bundle,) = read_fits_images([path])
    assert bundle.images[0].orientation is None


def test_a_header_that_is_not_celestial_has_none() -> None:
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "LINEAR", "LINEAR"
    assert orientation_from_wcs(WCS(header), (8, 8)) is None
