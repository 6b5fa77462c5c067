"""Artifacts superposed on galaxies: saturated stars with spikes, satellite trails, bad columns.

Each returns a noiseless additive image (B, H, W) in nmgy/pixel; saturation is applied after the
galaxy is added, since it depends on the total light in a pixel.
"""

import numpy as np

from app.mock.instrument import (
    ELECTRONS_PER_NMGY,
    PIXEL_SCALE,
    SATURATION_NMGY,
    STAMP,
    sky_nmgy_per_pixel,
)
from app.mock.render import band_psfs

ARTIFACT_KINDS = ("star", "trail", "column")
_KIND_PROB = np.array([0.5, 0.3, 0.2])
# Main-sequence stellar locus as m_b - m_r = zero + slope * (g-r), roughly Covey et al. (2007):
# u-g = 0.6 + 1.4 (g-r), r-i = 0.4 (g-r) - 0.05, i-z = 0.25 (g-r) - 0.02.
_LOCUS_SLOPE = np.array([2.4, 1.0, 0.0, -0.4, -0.65])
_LOCUS_ZERO = np.array([0.6, 0.0, 0.0, 0.05, 0.07])


def star_magnitudes(r_mag: float, g_r: float) -> np.ndarray:
    """ugriz AB magnitudes (B,) of a main-sequence star of given r and g-r on the stellar locus."""
    return r_mag + _LOCUS_ZERO + _LOCUS_SLOPE * g_r


def bright_star(fwhm: np.ndarray, rng: np.random.Generator, stamp: int = STAMP) -> np.ndarray:
    """A bright (r = 10.5-14.5) star 6-30 px from the galaxy: PSF core, scattered-light halo
    (3% of the light in a broad beta = 2 Moffat, like the SDSS PSF's power-law wings) and a
    cross of diffraction spikes."""
    dist, phi = rng.uniform(6.0, 30.0), rng.uniform(0.0, 2 * np.pi)
    pos = dist * np.array([np.cos(phi), np.sin(phi)])
    flux = 10 ** (-0.4 * (star_magnitudes(rng.uniform(10.5, 14.5), rng.uniform(0.3, 1.4)) - 22.5))
    out = np.empty((fwhm.size, stamp, stamp))
    centre = (stamp - 1) / 2.0 + pos
    y, x = np.mgrid[:stamp, :stamp].astype(np.float64)
    dx, dy = x - centre[0], y - centre[1]
    for b, psf in enumerate(band_psfs(fwhm)):
        star = psf.withFlux(float(flux[b])).drawImage(
            nx=stamp, ny=stamp, scale=PIXEL_SCALE, offset=tuple(pos)
        )
        width = fwhm[b] / PIXEL_SCALE / 2.3548
        spikes = sum(
            np.exp(-0.5 * (across / width) ** 2) / (1.0 + (along / 4.0) ** 2)
            for across, along in ((dy, dx), (dx, dy))
        )
        out[b] = star.array + 3e-4 * flux[b] * spikes / (np.sqrt(2 * np.pi) * width)
    return out


def satellite_trail(fwhm: np.ndarray, rng: np.random.Generator, stamp: int = STAMP) -> np.ndarray:
    """A straight trail across the cutout in one band (SDSS scans its bands ~72 s apart)."""
    out = np.zeros((fwhm.size, stamp, stamp))
    band = int(rng.integers(fwhm.size))
    theta, impact = rng.uniform(0.0, np.pi), rng.uniform(-12.0, 12.0)
    y, x = np.mgrid[:stamp, :stamp].astype(np.float64) - (stamp - 1) / 2.0
    across = x * np.sin(theta) - y * np.cos(theta) - impact
    width = fwhm[band] / PIXEL_SCALE / 2.3548
    per_pixel_length = rng.uniform(0.5, 20.0)  # nmgy per pixel of trail length
    out[band] = (
        per_pixel_length * np.exp(-0.5 * (across / width) ** 2) / (np.sqrt(2 * np.pi) * width)
    )
    return out


def bad_column(n_bands: int, rng: np.random.Generator, stamp: int = STAMP) -> np.ndarray:
    """A hot CCD column in one band, within 12 px of the galaxy, 3-30 sky sigma high, unflagged."""
    out = np.zeros((n_bands, stamp, stamp))
    band = int(rng.integers(n_bands))
    sky_sigma = np.sqrt(sky_nmgy_per_pixel()[band] / ELECTRONS_PER_NMGY[band])
    out[band, :, stamp // 2 + int(rng.integers(-12, 13))] = rng.uniform(3.0, 30.0) * sky_sigma
    return out


def draw_artifact(fwhm: np.ndarray, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """A random artifact kind and its noiseless image (B, H, W) nmgy/pixel."""
    kind = ARTIFACT_KINDS[int(rng.choice(len(ARTIFACT_KINDS), p=_KIND_PROB))]
    if kind == "star":
        return kind, bright_star(fwhm, rng)
    if kind == "trail":
        return kind, satellite_trail(fwhm, rng)
    return kind, bad_column(fwhm.size, rng)


def saturate(model: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip pixels at the full well and bleed the excess charge along the column: image, mask.

    The excess above saturation is conserved and spread symmetrically up and down the column,
    as on SDSS frames; saturated and bled pixels are masked (their ivar becomes 0).
    """
    out = model.copy()
    mask = np.zeros(model.shape, dtype=bool)
    for b in range(model.shape[0]):
        sat = SATURATION_NMGY[b]
        for col in np.nonzero((model[b] > sat).any(axis=0))[0]:
            column = out[b, :, col]
            hot = np.nonzero(column > sat)[0]
            excess = float(np.sum(column[hot] - sat))
            n_bleed = int(np.ceil(excess / sat / 2.0))
            lo, hi = max(hot[0] - n_bleed, 0), min(hot[-1] + n_bleed + 1, column.size)
            column[lo:hi] = sat
            mask[b, lo:hi, col] = True
    return out, mask
