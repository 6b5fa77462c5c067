"""Noiseless and noisy ugriz cutouts: components x band fluxes, convolved with each band's PSF."""

from collections.abc import Sequence

import galsim
import numpy as np

from app.mock.instrument import PIXEL_SCALE, STAMP, pixel_variance
from app.mock.physics.morphology import GSPARAMS, Component

MOFFAT_BETA = 3.0  # SDSS PSF wings are Moffat-like with beta ~ 2.5-3.5
_SUBPIX = 8


def band_psfs(fwhm: np.ndarray) -> list[galsim.GSObject]:
    """Moffat PSF of each band with FWHM (B,) arcsec."""
    return [galsim.Moffat(beta=MOFFAT_BETA, fwhm=float(f), gsparams=GSPARAMS) for f in fwhm]


def component_fluxes(
    components: Sequence[Component], template_nmgy: np.ndarray, line_nmgy: np.ndarray
) -> np.ndarray:
    """Band fluxes (K, B) nmgy of K components: template_nmgy (B, T) @ coeff + lines (B,)."""
    return np.stack([template_nmgy @ c.coeff + c.line_weight * line_nmgy for c in components])


def draw(
    components: Sequence[Component],
    fluxes: np.ndarray,
    psfs: Sequence[galsim.GSObject],
    offset_px: np.ndarray,
    stamp: int = STAMP,
) -> np.ndarray:
    """Noiseless image (B, stamp, stamp) nmgy/pixel of components with fluxes (K, B)."""
    out = np.empty((len(psfs), stamp, stamp), dtype=np.float64)
    for b, psf in enumerate(psfs):
        galaxy = galsim.Sum(
            [c.profile.withFlux(float(f)) for c, f in zip(components, fluxes[:, b], strict=True)]
        )
        image = galsim.Convolve(galaxy, psf, gsparams=GSPARAMS).drawImage(
            nx=stamp, ny=stamp, scale=PIXEL_SCALE, offset=tuple(offset_px)
        )
        out[b] = image.array
    return out


def aperture_weights(radius_px: float, center_px: np.ndarray, stamp: int = STAMP) -> np.ndarray:
    """Fraction (stamp, stamp) of each pixel inside a circle (8x8 sub-pixel sampling)."""
    sub = (np.arange(stamp * _SUBPIX) + 0.5) / _SUBPIX - 0.5
    dy, dx = sub[:, None] - center_px[1], sub[None, :] - center_px[0]
    inside = (dx**2 + dy**2 <= radius_px**2).astype(np.float64)
    return inside.reshape(stamp, _SUBPIX, stamp, _SUBPIX).mean(axis=(1, 3))


def stamp_center(offset_px: np.ndarray, stamp: int = STAMP) -> np.ndarray:
    """Array (x, y) position of a profile drawn with GalSim's offset on an even-sized stamp."""
    return (stamp - 1) / 2.0 + offset_px


def add_noise(model: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sky-subtracted noisy image and its inverse variance from a noiseless model (B, H, W) nmgy."""
    variance = pixel_variance(model)
    noisy = model + np.sqrt(variance) * rng.standard_normal(model.shape)
    return noisy, 1.0 / variance
