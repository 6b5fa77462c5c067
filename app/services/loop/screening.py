"""Artifact screen: flag galaxies whose data look broken, from the data alone.

Uncertainty sampling chases galaxies with broken photometry (a bright star, a satellite trail or
a hot column in the aperture), which teach a model little (PRODUCT.md). The screen flags them so
the active part of a batch skips them (:func:`app.services.loop.strategy.choose_batch`); the random
control may still pick them. Two tests, each on whatever modality a galaxy has:

* photometry: robust (minimum covariance determinant) Mahalanobis distance of the adjacent
  colours from the bulk, above the chi-square quantile 1 - ``COLOUR_P``; missing bands flag too;
* image: a hot column (a column's median stands out from both neighbours), a source off the
  centre far brighter than the galaxy's core (a star), or faint-wing pixels in one band only
  (a trail).

The image thresholds were set on the first 1500 galaxies of ``galactive mock --n 4000 --seed 11``
(image screen: 92% of its artifacts, 0.14% of other galaxies); tests measure recall on another.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2
from sklearn.covariance import MinCovDet

from bayes.data import GalaxyArrays, asinh_magnitudes, sky_sigmas

COLOUR_P = 1e-4  # false-flag rate the colour test would have on Gaussian colours
MAX_FIT = 5000  # galaxies the robust covariance is fitted on
COLUMN_SIGMA = 2.0  # hot column: its median exceeds both neighbours' by this many pixel sigmas
PEAK_RATIO = 20.0  # star: off-centre peak over core peak (both in sky sigmas)
ONE_BAND_PIXELS = 60  # trail: >5-sigma wing pixels in one band beyond the next band's count
CORE_RADIUS, WING_RADIUS = 4.0, 14.0  # pixels from the cutout's centre
CHUNK = 256  # galaxies per block of the image test


def colour_outliers(
    flux: np.ndarray, ivar: np.ndarray, *, p: float = COLOUR_P, seed: int = 0
) -> np.ndarray:
    """(N,) bool: colours far outside the bulk, or a band missing (ivar <= 0 or not finite).

    flux, ivar: (N, P) nanomaggies. The robust covariance is fitted on at most ``MAX_FIT`` of
    the complete rows (a seeded sample), so a few percent of broken galaxies cannot bend it.
    """
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)).all(1)
    flagged = ~ok
    if ok.sum() <= 2 * flux.shape[1]:  # too few galaxies to estimate a covariance
        return flagged
    mag, _ = asinh_magnitudes(flux[ok], ivar[ok])
    colours = -np.diff(mag, axis=1)
    rng = np.random.default_rng(seed)
    fit = colours[rng.choice(len(colours), min(MAX_FIT, len(colours)), replace=False)]
    mcd = MinCovDet(random_state=seed).fit(fit)
    flagged[ok] = mcd.mahalanobis(colours) > chi2.ppf(1 - p, colours.shape[1])
    return flagged


def image_defects(images: np.ndarray, *, in_sigmas: bool = False) -> np.ndarray:
    """(N,) bool: a hot column, an off-centre source far brighter than the core, or a trail.

    images: (N, B, H, W) in any linear flux unit; each band is measured in its own sky sigmas
    (1.4826 MAD), so the thresholds hold for any survey depth. ``in_sigmas``: the images are
    already so (distance from the band's median in sky sigmas), as cutouts stored in the
    network's form give them back: no median to compute again.
    """
    out = np.zeros(len(images), bool)
    for start in range(0, len(images), CHUNK):
        block = images[start : start + CHUNK]
        out[start : start + CHUNK] = _image_block(
            block if in_sigmas else _in_sky_sigmas(block.astype(np.float64))
        )
    return out


def _in_sky_sigmas(im: np.ndarray) -> np.ndarray:
    """(N, B, H, W) linear flux -> distance from each band's median in its sky sigmas."""
    med = np.median(im, axis=(2, 3), keepdims=True)
    sigma = 1.4826 * np.median(np.abs(im - med), axis=(2, 3), keepdims=True)
    return (im - med) / np.where(sigma > 0, sigma, 1.0)


def _image_block(z: np.ndarray) -> np.ndarray:
    _, _, h, w = z.shape
    column = np.median(z, axis=2)  # (n, B, W)
    neighbours = np.maximum(column[..., :-2], column[..., 2:])
    hot_column = (column[..., 1:-1] - neighbours).max((1, 2)) > COLUMN_SIGMA
    y, x = np.mgrid[:h, :w]
    r = np.hypot(y - (h - 1) / 2, x - (w - 1) / 2)
    core = np.where(r < CORE_RADIUS, z, -np.inf).max((1, 2, 3))
    wing = np.where(r > WING_RADIUS, z, -np.inf).max((1, 2, 3))
    star = wing / np.maximum(core, 1.0) > PEAK_RATIO
    bright = np.sort(((z > 5) & (r > WING_RADIUS)).sum((2, 3)), axis=1)  # (n, B) ascending
    trail = bright[:, -1] - bright[:, -2] > ONE_BAND_PIXELS if z.shape[1] > 1 else False
    return hot_column | star | trail


def screen(arrays: GalaxyArrays, *, modalities: tuple[str, ...], seed: int = 0) -> np.ndarray:
    """(N,) bool: galaxies flagged by the tests of the ``modalities`` they have."""
    flagged = np.zeros(len(arrays), bool)
    present = arrays.present()
    if "photometry" in modalities and arrays.phot_flux is not None and present[:, 2].any():
        rows = np.flatnonzero(present[:, 2])
        flagged[rows] |= colour_outliers(arrays.phot_flux[rows], arrays.phot_ivar[rows], seed=seed)
    if "image" in modalities and arrays.images is not None and present[:, 0].any():
        rows = np.flatnonzero(present[:, 0])
        images = arrays.images[rows]
        # stored in the network's form: back to sky sigmas, which the tests measure in
        if arrays.images_stretched:
            flagged[rows] |= image_defects(sky_sigmas(images), in_sigmas=True)
        else:
            flagged[rows] |= image_defects(images)
    return flagged
