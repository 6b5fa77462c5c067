"""Colour features: standardised colours and brightness from catalogue photometry."""

import numpy as np
import pytest

from bayes.colours import colour_features


def _survey(n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    flux = rng.lognormal(4.0, 1.0, (n, 1)) * rng.lognormal(0.0, 0.3, (n, 5))  # bright: ~55 nMgy
    return flux, np.full_like(flux, 100.0)


def test_features_are_robustly_standardised_colours_and_brightness() -> None:
    flux, ivar = _survey()
    x = colour_features(flux, ivar)
    assert x.shape == (2000, 5)
    np.testing.assert_allclose(np.median(x, 0), 0.0, atol=1e-12)
    np.testing.assert_allclose(1.4826 * np.median(np.abs(x), 0), 1.0, rtol=1e-9)
    # scaling a bright galaxy's fluxes keeps its colours (asinh ~ log at 50 b) and moves its
    # brightness alone
    scaled = flux.copy()
    scaled[0] *= 4.0
    y = colour_features(scaled, ivar)
    np.testing.assert_allclose(y[0, :4], x[0, :4], atol=0.02)
    assert y[0, 4] < x[0, 4] - 1.0  # 1.5 mag brighter, in units of the survey's spread


def test_missing_bands_and_galaxies_sit_at_the_centre() -> None:
    flux, ivar = _survey()
    ivar[0] = 0.0  # no photometry
    flux[1, 2] = np.nan  # r missing: g-r and r-i unknown
    x = colour_features(flux, ivar)
    np.testing.assert_array_equal(x[0], 0.0)
    assert x[1, 1] == 0.0 and x[1, 2] == 0.0 and x[1, 0] != 0.0 and x[1, 3] != 0.0
    assert np.isfinite(x).all()


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="same"):
        colour_features(np.ones((3, 5)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="two bands"):
        colour_features(np.ones((3, 1)), np.ones((3, 1)))
