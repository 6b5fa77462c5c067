"""Small synthetic surveys whose labels depend on the inputs in known ways."""

from __future__ import annotations

import numpy as np

from bayes.data import GalaxyArrays

CLASSES = ("round", "elongated", "double")


def survey(
    n: int, rng: np.random.Generator, *, size: int = 16, bands: int = 3, p_spec: float = 0.5
) -> tuple[GalaxyArrays, dict[str, np.ndarray]]:
    """N galaxies with images (class = shape), photometry and spectra (both carry redshift).

    Spectra have per-galaxy grids: random length 90-120 pixels, start 3600-4000 A, and pixel
    width 30-50 A; one emission line at 4000 (1+z) A. Rows without a spectrum hold NaN garbage.
    """
    cls = rng.integers(0, 3, n)
    z = rng.uniform(0.05, 0.6, n)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    images = np.empty((n, bands, size, size), np.float32)
    for i in range(n):
        sx, sy = (2.5, 2.5) if cls[i] == 0 else (4.0, 1.2)
        blob = np.exp(-0.5 * ((xx / sx) ** 2 + (yy / sy) ** 2))
        if cls[i] == 2:
            blob = np.exp(-0.5 * (((xx - 3) / 1.5) ** 2 + (yy / 1.5) ** 2))
            blob += np.exp(-0.5 * (((xx + 3) / 1.5) ** 2 + (yy / 1.5) ** 2))
        images[i] = 10 * blob + rng.normal(0, 0.3, (bands, size, size))
    colour = 2.0 * z
    phot_flux = 50.0 * 10 ** (-0.4 * colour[:, None] * np.linspace(-1, 1, 5)[None, :])
    phot_ivar = 1.0 / (0.02 * phot_flux) ** 2
    phot_flux = phot_flux + rng.normal(0, 0.02 * phot_flux)
    lmax = 120
    wave = np.full((n, lmax), np.nan)
    flux = np.full((n, lmax), np.nan)
    ivar = np.zeros((n, lmax))
    has_spec = rng.random(n) < p_spec
    for i in np.flatnonzero(has_spec):
        length = rng.integers(90, lmax + 1)
        w = rng.uniform(3600, 4000) + rng.uniform(30, 50) * np.arange(length)
        line = 4000 * (1 + z[i])
        f = 1 + 5 * np.exp(-0.5 * ((w - line) / 40) ** 2) + rng.normal(0, 0.1, length)
        wave[i, :length], flux[i, :length], ivar[i, :length] = w, f, 100.0
    arrays = GalaxyArrays(
        images=images,
        has_image=np.ones(n, bool),
        wavelength=wave,
        flux=flux,
        ivar=ivar,
        has_spectrum=has_spec,
        phot_flux=phot_flux,
        phot_ivar=phot_ivar,
        has_photometry=np.ones(n, bool),
    )
    return arrays, {"morphology": cls, "redshift": z}
