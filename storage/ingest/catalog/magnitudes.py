"""Magnitudes <-> nanomaggy fluxes, and Galactic extinction, as small functions over arrays.

A nanomaggy is 3.631e-6 Jy: AB magnitude 22.5. SDSS asinh magnitudes ("luptitudes",
Lupton, Gunn & Szalay 1999) stay finite at zero and negative flux; each band has its own
softening ``b`` (here in nanomaggies). Arrays are (N,) or (N, B) with bands on the last
axis; NaN marks a missing value and becomes flux 0 with inverse variance 0.
"""

from __future__ import annotations

import numpy as np

ZERO_POINT = 22.5  # AB magnitude of 1 nanomaggy
POGSON = 2.5 / np.log(10.0)  # magnitudes per e-fold of flux
# SDSS asinh softening per band: b = 1.4e-10, 0.9e-10, 1.2e-10, 1.8e-10, 7.4e-10 of f0 = 1 maggy
SDSS_SOFTENING = {"u": 0.14, "g": 0.09, "r": 0.12, "i": 0.18, "z": 0.74}  # nanomaggies


def ab_to_flux(mag: np.ndarray, mag_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AB magnitudes and their errors -> (flux, ivar) in nanomaggies, same shape.

    f = 10^(-0.4 (m - 22.5)); sigma_f = f sigma_m / POGSON. A NaN m or sigma_m gives 0, 0.
    """
    missing = np.isnan(mag) | np.isnan(mag_err)
    with np.errstate(over="ignore"):  # a sentinel like -9999 overflows; the caller says so
        flux = np.where(missing, 0.0, 10.0 ** (-0.4 * (np.where(missing, ZERO_POINT, mag) - 22.5)))
        sigma = flux * mag_err / POGSON
        return flux, _ivar(sigma, missing)


def asinh_to_flux(
    mag: np.ndarray, mag_err: np.ndarray, softening: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """SDSS asinh magnitudes and errors -> (flux, ivar) in nanomaggies.

    softening: b per band in nanomaggies, broadcast against ``mag`` (shape (B,) for (N, B)).
    f = 2b sinh(-(m - 22.5)/POGSON - ln b); sigma_f = sigma_m sqrt(f^2 + 4b^2) / POGSON.
    """
    missing = np.isnan(mag) | np.isnan(mag_err)
    with np.errstate(over="ignore"):  # a sentinel like -9999 overflows; the caller says so
        flux = asinh_flux(np.where(missing, ZERO_POINT, mag), softening)
        flux = np.where(missing, 0.0, flux)
        sigma = mag_err * np.sqrt(flux**2 + 4.0 * softening**2) / POGSON
        return flux, _ivar(sigma, missing)


def asinh_flux(mag: np.ndarray, softening: np.ndarray) -> np.ndarray:
    """Flux (nanomaggies) of asinh magnitudes ``mag`` with softening ``b`` (nanomaggies)."""
    return 2.0 * softening * np.sinh(-(mag - ZERO_POINT) / POGSON - np.log(softening))


def flux_to_asinh(flux: np.ndarray, softening: np.ndarray) -> np.ndarray:
    """SDSS asinh magnitudes of ``flux`` (nanomaggies); the inverse of :func:`asinh_flux`."""
    return ZERO_POINT - POGSON * (np.arcsinh(flux / (2.0 * softening)) + np.log(softening))


def flux_to_ab(flux: np.ndarray) -> np.ndarray:
    """AB magnitudes of ``flux`` (nanomaggies); NaN where the flux is not positive."""
    positive = flux > 0
    return np.where(positive, ZERO_POINT - 2.5 * np.log10(np.where(positive, flux, 1.0)), np.nan)


def deredden(
    flux: np.ndarray, ivar: np.ndarray, extinction: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Correct (flux, ivar) for Galactic extinction A (magnitudes, same shape).

    flux * 10^(0.4 A), ivar * 10^(-0.8 A): the source is brighter than observed.
    """
    factor = 10.0 ** (0.4 * extinction)
    return flux * factor, ivar / factor**2


def _ivar(sigma: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """1 / sigma^2, 0 where missing or sigma is not positive."""
    ok = ~missing & (sigma > 0)
    return np.where(ok, 1.0 / np.where(ok, sigma, 1.0) ** 2, 0.0)
