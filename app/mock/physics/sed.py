"""Galaxy SEDs: kcorrect NMF templates without their nebular lines, SDSS band fluxes, lines.

Fluxes follow kcorrect's convention: a template is an SED at 10 pc; redshifting conserves
bolometric flux, f_z(lam) = f_0(lam / (1+z)) / (1+z), and distance dimming is applied
separately with the distance modulus. Band fluxes are AB maggies (1 maggy = 3631 Jy).
"""

from functools import lru_cache
from pathlib import Path

import kcorrect
import numpy as np
import speclite.filters
from astropy.io import fits

from app.mock.tasks import BANDS

C_ANGSTROM_S = 2.99792458e18
AB_ZERO_FNU = 3631e-23  # erg/s/cm^2/Hz
FILTER_NAMES = tuple(f"sdss2010-{band}" for band in BANDS)

# Nebular lines the kcorrect templates carry (vacuum Angstrom); they are cut out so that the
# lines we add follow each galaxy's SFR instead of the template mixture.
TEMPLATE_NEBULAR_LINES = np.array(
    [3727.1, 3729.9, 3799.0, 3836.5, 3869.9, 3889.1, 3968.6, 3971.2, 4102.9, 4341.7, 4364.4,
     4472.7, 4687.0, 4862.7, 4960.3, 5008.2, 5877.3, 6302.0, 6314.0, 6335.0, 6365.5, 6549.9,
     6564.6, 6585.3, 6718.3, 6732.7, 7067.1, 7137.8, 7321.9, 7332.2, 7753.2, 8752.9, 8865.2,
     9017.4, 9071.1, 9231.5, 9533.2, 9548.6, 9852.0, 10052.1, 10289.5, 10323.3, 10339.2,
     10833.3, 10941.1, 12821.6]
)  # fmt: skip

# The lines we add (vacuum Angstrom), in this order everywhere a (N, 8) line array appears.
LINE_NAMES = ("OII_3727", "OII_3730", "Hb", "OIII_4960", "OIII_5008", "NII_6550", "Ha", "NII_6585")
LINE_WAVELENGTHS = np.array([3727.1, 3729.9, 4862.7, 4960.3, 5008.2, 6549.9, 6564.6, 6585.3])
# Cardelli, Clayton & Mathis (1989), R_V = 3.1: A_lambda / A_V at each line, divided by the
# value at H-alpha, so that A_line = ratio * A_Halpha.
_CCM_OVER_HALPHA = np.array([1.86, 1.86, 1.43, 1.41, 1.38, 1.00, 1.00, 1.00])

_Z_TABLE = np.linspace(0.0, 0.45, 226)
_OBS_GRID = np.arange(2900.0, 11200.0, 2.0)  # covers sdss2010 u..z responses
_LINE_WINDOW_DLNLAM = 0.0045  # template lines span about +-4 template pixels


@lru_cache(maxsize=1)
def templates() -> tuple[np.ndarray, np.ndarray]:
    """kcorrect-default-v4 templates, nebular lines removed: wave (L,) A, flux (5, L) at 10 pc."""
    path = Path(kcorrect.__file__).parent / "data" / "templates" / "kcorrect-default-v4.fits"
    with fits.open(path) as hdus:
        table = hdus["FLUX"].data
        wave = np.asarray(table["wave"][0], dtype=np.float64)
        flux = np.asarray(table["flux"][0], dtype=np.float64).reshape(-1, wave.size)
    return wave, strip_lines(wave, flux, TEMPLATE_NEBULAR_LINES)


def strip_lines(wave: np.ndarray, flux: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Replace flux (T, L) within each line's window by a log-linear bridge across the window."""
    lnw = np.log(wave)
    masked = np.any(np.abs(lnw[:, None] - np.log(lines)[None, :]) < _LINE_WINDOW_DLNLAM, axis=1)
    keep = ~masked
    out = flux.copy()
    for t in range(flux.shape[0]):
        out[t, masked] = np.exp(
            np.interp(lnw[masked], lnw[keep], np.log(np.maximum(flux[t, keep], 1e-300)))
        )
    return out


@lru_cache(maxsize=1)
def filters() -> speclite.filters.FilterSequence:
    """The SDSS u, g, r, i, z response curves (Doi et al. 2010) shipped with speclite."""
    return speclite.filters.load_filters(*FILTER_NAMES)


def redshifted(wave: np.ndarray, flux: np.ndarray, z: float, wave_obs: np.ndarray) -> np.ndarray:
    """Rest SEDs flux (T, L) on wave, redshifted to z, sampled on wave_obs (kcorrect convention)."""
    rest = wave_obs / (1.0 + z)
    return np.stack([np.interp(rest, wave, f, left=0.0, right=0.0) for f in flux]) / (1.0 + z)


@lru_cache(maxsize=1)
def band_table() -> np.ndarray:
    """Maggies at 10 pc of each template seen at redshift z: (Z, B, T) on the _Z_TABLE grid."""
    wave, flux = templates()
    seds = np.stack([redshifted(wave, flux, z, _OBS_GRID) for z in _Z_TABLE])  # (Z, T, L)
    maggies = filters().get_ab_maggies(seds, _OBS_GRID)
    return np.stack([np.asarray(maggies[name]) for name in FILTER_NAMES], axis=1)


def template_maggies(z: np.ndarray) -> np.ndarray:
    """Per-template band maggies at 10 pc for redshifts z (N,): (N, B, T), linear in z."""
    table = band_table()
    pos = np.clip(np.asarray(z) / _Z_TABLE[-1] * (_Z_TABLE.size - 1), 0, _Z_TABLE.size - 1.000001)
    k = pos.astype(int)
    w = (pos - k)[:, None, None]
    return (1.0 - w) * table[k] + w * table[k + 1]


def continuum_maggies(coeffs: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Band maggies at 10 pc of template mixtures coeffs (N, T) at redshifts z (N,): (N, B)."""
    return np.einsum("nbt,nt->nb", template_maggies(z), coeffs)


def line_luminosities(
    sfr: np.ndarray,
    a_halpha: np.ndarray,
    log_oiii_hb: np.ndarray,
    log_nii_ha: np.ndarray,
    oii_ha: np.ndarray,
) -> np.ndarray:
    """Attenuated line luminosities (N, 8) erg/s from SFR (N,) Msun/yr and line ratios.

    H-alpha: Kennicutt (1998), SFR = 7.9e-42 L(Ha); Hb = Ha / 2.86 (case B, 10^4 K);
    oii_ha is the intrinsic [O II]/Ha ratio (Kennicutt's two calibrations give 0.56);
    [O II] 3729/3726 = 1.4 (low density); [O III] 5008/4960 and [N II] 6585/6550 = 3 (atomic).
    Dust: a_halpha (mag) scaled to each line with the CCM89 curve.
    """
    ha = sfr / 7.9e-42
    hb = ha / 2.86
    oii = ha * oii_ha
    oiii = hb * 10.0**log_oiii_hb
    nii = ha * 10.0**log_nii_ha
    intrinsic = np.stack(
        [oii / 2.4, oii * 1.4 / 2.4, hb, oiii / 2.98, oiii, nii / 3.0, ha, nii], axis=1
    )
    return intrinsic * 10.0 ** (-0.4 * a_halpha[:, None] * _CCM_OVER_HALPHA[None, :])


@lru_cache(maxsize=1)
def _band_norms() -> np.ndarray:
    """AB normalisation of each band, 3631 Jy * c * int R / lam dlam: (B,) erg/s/cm^2."""
    return np.array(
        [
            AB_ZERO_FNU * C_ANGSTROM_S * np.trapezoid(f.response / f.wavelength, f.wavelength)
            for f in filters()
        ]
    )


def line_maggies(line_flux: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Band maggies (N, B) of emission lines with fluxes (N, 8) erg/s/cm^2 at redshifts z (N,)."""
    lam = LINE_WAVELENGTHS[None, :] * (1.0 + np.asarray(z)[:, None])  # (N, 8)
    resp = np.stack([f(lam) for f in filters()], axis=1)  # (N, B, 8)
    return np.einsum("nbl,nl->nb", resp * lam[:, None, :], line_flux) / _band_norms()[None, :]
