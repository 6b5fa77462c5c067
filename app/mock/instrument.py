"""The SDSS imaging camera as the mock sees it: pixels, sky, gain, seeing, saturation."""

import numpy as np

PIXEL_SCALE = 0.396  # arcsec / pixel (SDSS imaging camera)
STAMP = 64  # cutout side, pixels
# Dark-sky surface brightness, AB mag / arcsec^2 (SDSS DR7 median sky, Stoughton et al. 2002).
SKY_MAG = np.array([22.1, 21.9, 20.8, 20.2, 18.9])
# Photo-electrons per nanomaggy: gain (e-/DN, ~1.6-4.8) times DN per nanomaggy of the SDSS
# photometric calibration (about 53.9 s exposures through a 2.5 m aperture).
ELECTRONS_PER_NMGY = np.array([160.0, 1000.0, 900.0, 770.0, 145.0])
# A pixel saturates near 55,000 DN; in nanomaggies with the gains above (~4 e-/DN).
SATURATION_NMGY = 55000.0 * np.array([1.6, 3.9, 4.7, 4.6, 4.8]) / ELECTRONS_PER_NMGY
BAND_WAVELENGTH = np.array([3551.0, 4686.0, 6166.0, 7480.0, 8932.0])  # effective, Angstrom
MEDIAN_SEEING_R = 1.4  # arcsec FWHM in r, SDSS imaging median


def sky_nmgy_per_pixel() -> np.ndarray:
    """Sky level (B,) in nanomaggies per pixel, from SKY_MAG and the pixel area."""
    return 10.0 ** (-0.4 * (SKY_MAG - 22.5)) * PIXEL_SCALE**2


def band_fwhm(fwhm_r: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    """Per-band PSF FWHM (N, B) arcsec from the r-band FWHM (N,) and a per-band jitter (N, B).

    Kolmogorov seeing scales as lambda^-0.2, so u is ~15% worse than r; SDSS u images are
    worse still (focus), hence the extra 5% there; jitter is a fractional per-band wobble.
    """
    scale = (BAND_WAVELENGTH / BAND_WAVELENGTH[2]) ** -0.2 * np.array([1.05, 1, 1, 1, 1])
    return fwhm_r[:, None] * scale[None, :] * (1.0 + jitter)


def pixel_variance(model_nmgy: np.ndarray) -> np.ndarray:
    """Per-pixel variance (nmgy^2) of sky-subtracted images (.., B, H, W): Poisson sky + object."""
    sky = sky_nmgy_per_pixel()[:, None, None]
    gain = ELECTRONS_PER_NMGY[:, None, None]
    return (sky + np.clip(model_nmgy, 0.0, None)) / gain
