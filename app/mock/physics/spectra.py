"""SDSS-like fiber spectra: fiber-weighted component SEDs, broadened, with sky and photon noise."""

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.special import ndtr

from app.mock.instrument import BAND_WAVELENGTH, SKY_MAG
from app.mock.physics import sed

LOGLAM = 3.5798 + 1e-4 * np.arange(3841)  # SDSS spectro grid, log10 vacuum Angstrom
WAVELENGTH = 10.0**LOGLAM
C_KMS = 299792.458
KMS_PER_PIXEL = C_KMS * np.log(10.0) * 1e-4  # 69 km/s per 1e-4 dex pixel
SIGMA_INSTRUMENT = C_KMS / (2000.0 * 2.3548)  # R ~ 2000 -> sigma 64 km/s
FIBER_RADIUS = 1.5  # arcsec (3" SDSS fibers)
FLUX_UNIT = 1e-17  # erg/s/cm^2/A
# Photon budget: 2.5 m primary with 1.3 m central obstruction, 3 x 15 min; the throughput
# curve (atmosphere + telescope + spectrograph + fiber) peaks at 12% near 6500 A, which puts
# S/N ~ 10 per pixel at r_fiber = 19 as on SDSS plates.
AREA_CM2 = np.pi / 4.0 * (250.0**2 - 130.0**2)
EXPTIME_S = 2700.0
READ_VARIANCE = 100.0  # e-^2 per pixel after extraction over ~3 CCD columns
_H_ERG_S = 6.62607015e-27
# Night-sky emission lines, vacuum Angstrom, flux 1e-17 erg/s/cm^2/arcsec^2.
SKY_LINES = np.array([5578.9, 5891.6, 5897.6, 6302.0, 6365.5])
SKY_LINE_FLUX = np.array([200.0, 40.0, 40.0, 120.0, 40.0])
_PAD = 64  # pixels beyond each end of the grid so the smoothing has no edge effects


def _pixel_edges(loglam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper log10 wavelength edges of each pixel centred on loglam."""
    return loglam - 0.5e-4, loglam + 0.5e-4


def pixel_width(loglam: np.ndarray = LOGLAM) -> np.ndarray:
    """Width (A) of each log-spaced pixel."""
    lo, hi = _pixel_edges(loglam)
    return 10.0**hi - 10.0**lo


def throughput(wave: np.ndarray) -> np.ndarray:
    """Total system throughput (0-1) of the mock spectrograph."""
    return 0.12 * np.exp(-0.5 * (np.log(wave / 6500.0) / 0.35) ** 2)


def photons_per_unit(loglam: np.ndarray = LOGLAM) -> np.ndarray:
    """Detected photons per pixel for a flux density of 1e-17 erg/s/cm^2/A."""
    wave = 10.0**loglam
    energy = _H_ERG_S * sed.C_ANGSTROM_S / wave
    return FLUX_UNIT * pixel_width(loglam) * AREA_CM2 * EXPTIME_S * throughput(wave) / energy


def gaussian_lines(
    center: np.ndarray, flux: np.ndarray, sigma_kms: float, loglam: np.ndarray = LOGLAM
) -> np.ndarray:
    """Flux density (1e-17 units) of Gaussian lines (flux erg/s/cm^2), integrated per pixel."""
    sigma = sigma_kms / (C_KMS * np.log(10.0))
    lo, hi = _pixel_edges(loglam)
    c = np.log10(center)[:, None]
    frac = ndtr((hi[None, :] - c) / sigma) - ndtr((lo[None, :] - c) / sigma)
    return (flux[:, None] * frac).sum(axis=0) / pixel_width(loglam) / FLUX_UNIT


def sky_spectrum(loglam: np.ndarray = LOGLAM) -> np.ndarray:
    """Night sky in one fiber (1e-17 erg/s/cm^2/A): broadband continuum plus emission lines."""
    wave = 10.0**loglam
    f_lambda = 10.0 ** (-0.4 * (SKY_MAG + 48.6)) * sed.C_ANGSTROM_S / BAND_WAVELENGTH**2
    continuum = np.exp(np.interp(wave, BAND_WAVELENGTH, np.log(f_lambda))) / FLUX_UNIT
    area = np.pi * FIBER_RADIUS**2
    return area * (
        continuum + gaussian_lines(SKY_LINES, SKY_LINE_FLUX * FLUX_UNIT, SIGMA_INSTRUMENT, loglam)
    )


def fiber_continuum(
    coeffs: np.ndarray, fiber: np.ndarray, z: float, distance_modulus: float, sigma_star: float
) -> np.ndarray:
    """Continuum (L,) in 1e-17 units through the fiber of components with coeffs (K, T).

    fiber (K, B): each component's fraction of light in the fiber per band, interpolated in
    wavelength (seeing is chromatic). Broadened by stellar sigma and R ~ 2000.
    """
    loglam = 3.5798 + 1e-4 * np.arange(-_PAD, LOGLAM.size + _PAD)
    wave = 10.0**loglam
    t_wave, t_flux = sed.templates()
    seds = coeffs @ sed.redshifted(t_wave, t_flux, z, wave)  # (K, L)
    weights = np.stack([np.interp(wave, BAND_WAVELENGTH, f) for f in fiber])
    spec = (seds * weights).sum(axis=0) * 10.0 ** (-0.4 * distance_modulus) / FLUX_UNIT
    sigma_px = np.hypot(sigma_star, SIGMA_INSTRUMENT) / KMS_PER_PIXEL
    return gaussian_filter1d(spec, sigma_px)[_PAD:-_PAD]


def fiber_lines(
    line_flux: np.ndarray, line_fiber: np.ndarray, z: float, sigma_gas: float
) -> np.ndarray:
    """Emission lines (L,) 1e-17 units: line_flux (8,) erg/s/cm^2 times fiber fractions (8,)."""
    center = sed.LINE_WAVELENGTHS * (1.0 + z)
    return gaussian_lines(
        center, line_flux * line_fiber, float(np.hypot(sigma_gas, SIGMA_INSTRUMENT))
    )


def observe(model: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sky-subtracted noisy spectrum and ivar from a noiseless fiber spectrum (L,) 1e-17 units.

    Variance = (object + sky photons + read noise) / photons_per_unit^2; pixels at the core of
    the 5579 A sky line are masked (ivar = 0), like SDSS's BRIGHTSKY pixels.
    """
    gain = photons_per_unit()
    variance = (np.clip(model, 0.0, None) * gain + sky_spectrum() * gain + READ_VARIANCE) / gain**2
    flux = model + np.sqrt(variance) * rng.standard_normal(model.shape)
    ivar = 1.0 / variance
    ivar[np.abs(WAVELENGTH - SKY_LINES[0]) < 2.0] = 0.0
    return flux, ivar
