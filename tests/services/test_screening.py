"""The artifact screen: synthetic outliers, then recall on the mock's own artifacts.

The mock's truth of which galaxies are artifacts is used here only to measure the screen.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.mock import generate_survey
from app.mock.tasks import MORPHOLOGY_CLASSES
from app.services.loop.screening import (
    _column_median,
    colour_outliers,
    fit_colour_screen,
    image_defects,
    screen,
)
from bayes.data import GalaxyArrays


def fluxes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Galaxy-like ugriz fluxes (correlated colours) with 2% errors."""
    r = 10 ** (-0.4 * (rng.uniform(14, 17.7, n) - 22.5))
    colours = rng.multivariate_normal([-1.5, -0.7, -0.3, -0.2], 0.01 * (np.eye(4) + 0.5), size=n)
    mags = -2.5 * np.log10(r)[:, None] + np.concatenate(
        [-np.cumsum(colours[:, 1::-1], 1)[:, ::-1], np.zeros((n, 1)), np.cumsum(colours[:, 2:], 1)],
        axis=1,
    )
    flux = 10 ** (-0.4 * mags)
    return flux, 1.0 / (0.02 * flux) ** 2


def test_colour_outliers_catch_broken_photometry_and_missing_bands() -> None:
    rng = np.random.default_rng(0)
    flux, ivar = fluxes(2000, rng)
    broken = rng.choice(2000, 40, replace=False)
    flux[broken, rng.integers(0, 5, 40)] *= 10.0  # a star or trail in one band's aperture
    ivar[7, 3] = 0.0
    flagged = colour_outliers(flux, ivar)
    clean = np.setdiff1d(np.arange(2000), [*broken, 7])
    assert flagged[broken].all() and flagged[7]
    assert flagged[clean].mean() < 0.01
    assert not colour_outliers(flux[:5], ivar[:5]).any()  # too few to judge: only missing bands
    # fitted once to the pool, the test judges any few galaxies as it judges them in the pool
    fitted = fit_colour_screen(flux, ivar)
    assert (fitted.outliers(flux, ivar) == flagged).all()
    for start in range(0, 2000, 5):
        part = slice(start, start + 5)
        assert (fitted.outliers(flux[part], ivar[part]) == flagged[part]).all()
    assert fit_colour_screen(flux[:5], ivar[:5]) is None


def galaxy_images(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 5, 48, 48) round exponential galaxies on unit-sigma sky noise."""
    y, x = np.mgrid[:48, :48] - 23.5
    r = np.hypot(y, x)
    amp = rng.uniform(20, 200, n)[:, None, None, None]
    scale = rng.uniform(1.5, 4, n)[:, None, None, None]
    return amp * np.exp(-r / scale) + rng.normal(size=(n, 5, 48, 48))


def test_image_defects_find_columns_stars_and_trails_not_galaxies() -> None:
    rng = np.random.default_rng(1)
    images = galaxy_images(60, rng)
    images[0, 2, :, 30] += 4.0  # hot column, 4 sky sigma
    y, x = np.mgrid[:48, :48]
    images[1] += 5e4 * np.exp(-((y - 6) ** 2 + (x - 40) ** 2) / 4.0)  # bright star off centre
    images[2, 1] += 50.0 * np.exp(-0.5 * ((x - y - 12) / 1.2) ** 2)  # trail in one band
    flagged = image_defects(images)
    assert flagged[:3].all() and not flagged[3:].any()


@pytest.mark.slow
def test_screen_recall_on_the_mock_artifacts() -> None:
    """A 240-galaxy mock (another seed than the thresholds were set on): most artifacts flagged,
    few other galaxies."""
    bundles = list(generate_survey(240, seed=23, spectra_fraction=0.0, workers=1))
    images = np.concatenate([b.images[0].pixels for b in bundles])
    flux = np.concatenate([b.photometry[0].flux for b in bundles])
    ivar = np.concatenate([b.photometry[0].ivar for b in bundles])
    morph = np.concatenate(
        [
            v.values
            for b in bundles
            for v in b.values
            if v.task.name == "morphology" and v.truth_kind == "truth"
        ]
    )
    artifact = morph == MORPHOLOGY_CLASSES.index("artifact")
    n = len(morph)
    arrays = GalaxyArrays(
        images=images, has_image=np.ones(n, bool), phot_flux=flux, phot_ivar=ivar,
        has_photometry=np.ones(n, bool),
    )  # fmt: skip
    both = screen(arrays, modalities=("image", "photometry"))
    # cutouts in the network's form, as scoring reads them, are screened back in sky sigmas
    assert (screen(arrays.stretched(), modalities=("image", "photometry")) == both).all()
    phot = screen(arrays, modalities=("photometry",))
    assert artifact.sum() >= 10
    assert both[artifact].mean() >= 0.8 and both[~artifact].mean() <= 0.1
    assert phot[artifact].mean() >= 0.4 and phot[~artifact].mean() <= 0.1
    assert (phot <= both).all()


@pytest.mark.parametrize("shape", [(7, 5, 64, 64), (3, 2, 63, 10), (4, 1, 1, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_median_is_numpys(shape: tuple[int, ...], dtype: type) -> None:
    z = np.random.default_rng(1).normal(size=shape).astype(dtype)
    assert np.array_equal(_column_median(z), np.median(z, axis=2))
    z[0, 0, 0, 0] = np.nan  # a NaN in a column: NaN, as numpy says
    assert np.array_equal(_column_median(z), np.median(z, axis=2), equal_nan=True)
