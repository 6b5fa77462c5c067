"""Physical properties of flux-limited (r < 17.77) galaxies, drawn per galaxy by rejection.

Each galaxy i has its own generator, so a galaxy is the same whatever chunk it lands in.
Proposals: M_0.1r from the Schechter LF weighted by the volume in which M could still pass the
cut, z from dV/dz inside that volume; the exact cut (with K-correction, lines and model-flux
noise) then accepts or rejects. The accepted joint density is phi(M) dV/dz restricted to the cut.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import expit, ndtri

from app.mock.instrument import (
    ELECTRONS_PER_NMGY,
    MEDIAN_SEEING_R,
    PIXEL_SCALE,
    band_fwhm,
    sky_nmgy_per_pixel,
)
from app.mock.physics import cosmology, sed

R_LIMIT = 17.77  # SDSS main galaxy sample, Strauss et al. (2002)
M_STAR = -20.44 + 5.0 * np.log10(0.7)  # Blanton et al. (2003), 0.1r band, h = 0.7
ALPHA = -1.05
M_BRIGHT, M_FAINT = -24.0, -15.0  # nothing fainter than -15 can pass r < 17.77 at z > 0.005
K_SHIFT = 2.5 * np.log10(1.1)  # M_0.1r = mag(SED at z=0.1) + 2.5 log 1.1 (Blanton et al. 2003)
M_SUN_R = 4.65  # AB, Willmer (2018)
N_PROPOSALS = 8
ELLIPTICAL, SPIRAL, EDGE_ON, MERGER, IRREGULAR, ARTIFACT = range(6)
# Light fractions of kcorrect templates (at 0.1r): old stars are t3 (+ metal-rich t0);
# young/intermediate are t2, t4 and the bursty t1.
_STAR_FORMING_PROB = np.array([0.08, 0.85, 0.85, 0.75, 1.0])  # by base class
_DELTA_MEAN = np.array([0.0, 0.0, 0.0, 0.2, 0.15])  # SF offset from the main sequence, dex
_U = {  # columns of each proposal's uniform draws
    "mag": 0, "vol": 1, "cls": 2, "artifact": 3, "sf": 4, "delta": 5, "t0": 6, "t2": 7,
    "t1": 8, "t4": 9, "size": 10, "psf": 11, "psf_band": slice(12, 17), "noise": slice(17, 22),
    "oii": 22, "oiii": 23, "nii": 24, "dust": 25, "sigma": 26,
}  # fmt: skip
_N_UNIFORM = 27


@dataclass(frozen=True)
class Population:
    """Properties of N accepted galaxies; arrays (N,) unless noted.

    template_nmgy (N, B, T): observed nanomaggies per unit template coefficient;
    coeff_old, coeff_young (N, T): template coefficients of old and young stars;
    line_flux (N, 8) erg/s/cm^2 in sed.LINE_NAMES order; line_nmgy (N, B);
    flux_nmgy (N, B) true total; model_mag (N, B) measured model magnitudes (AB);
    r50 arcsec; fwhm (N, B) arcsec; sigma_star, sigma_gas km/s.
    """

    index: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    has_spectrum: np.ndarray
    z: np.ndarray
    abs_mag: np.ndarray
    morph: np.ndarray
    base: np.ndarray
    star_forming: np.ndarray
    log_mstar: np.ndarray
    log_sfr: np.ndarray
    rest_gr: np.ndarray
    rest_ur: np.ndarray
    template_nmgy: np.ndarray
    coeff_old: np.ndarray
    coeff_young: np.ndarray
    line_flux: np.ndarray
    line_nmgy: np.ndarray
    flux_nmgy: np.ndarray
    model_mag: np.ndarray
    r50: np.ndarray
    fwhm: np.ndarray
    sigma_star: np.ndarray
    sigma_gas: np.ndarray


def schechter(M: np.ndarray) -> np.ndarray:
    """Schechter LF in magnitudes (arbitrary normalisation) at absolute magnitudes M."""
    x = 10.0 ** (0.4 * (M_STAR - M))
    return x ** (ALPHA + 1.0) * np.exp(-x)


@lru_cache(maxsize=1)
def _proposal_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """M grid, CDF of phi(M) V_max(M), and z_max(M) with the most favourable K-correction."""
    z = np.linspace(cosmology.Z_MIN, cosmology.Z_MAX, 400)
    table = sed.template_maggies(z)[:, 2, :]  # (Z, T) r band
    k_min = np.min(-2.5 * np.log10(table / sed.template_maggies(np.array([0.1]))[0, 2]), axis=1)
    # 0.5 mag margin covers emission lines (EW < ~300 A in r) and model-flux noise
    bright_limit = np.maximum.accumulate(cosmology.distance_modulus(z) + k_min - K_SHIFT - 0.5)
    M = np.linspace(M_BRIGHT, M_FAINT, 2000)
    z_max = np.interp(R_LIMIT - M, bright_limit, z)
    v_max = cosmology.comoving_volume(z_max) - cosmology.comoving_volume(cosmology.Z_MIN)
    cdf = np.cumsum(schechter(M) * v_max)
    return M, cdf / cdf[-1], z_max


def class_probabilities(M: np.ndarray) -> np.ndarray:
    """P(base class | M_0.1r) (N, 5) before the flux cut: red/early fraction rises with L.

    Shape after Baldry et al. (2004); amplitudes tuned so the r < 17.77 sample has ~27%
    ellipticals, 43% spirals, 13% edge-on, 5% mergers and 11% irregulars among non-artifacts.
    """
    p_e = 0.05 + 0.42 * expit(-(M + 20.9) / 0.5)
    p_irr = 0.22 * expit((M + 20.0) / 0.6)
    rest = 1.0 - p_e - p_irr
    return np.stack([p_e, 0.62 * rest, 0.20 * rest, 0.08 * rest, p_irr], axis=-1)


def shen_r50_kpc(M: np.ndarray, early: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Half-light radius (kpc) from Shen et al. (2003) r-band size-luminosity relations."""
    late = -0.4 * 0.21 * M + (0.53 - 0.21) * np.log10(1 + 10 ** (-0.4 * (M + 20.52))) - 1.31
    log_r = np.where(early, -0.4 * 0.65 * M - 5.06, late)
    lum = 10 ** (-0.8 * (M + 20.52))
    s1, s2 = np.where(early, 0.45, 0.48), np.where(early, 0.27, 0.25)
    sigma_ln = s2 + (s1 - s2) / (1.0 + lum)
    return 10**log_r * np.exp(sigma_ln * normal)


def bell_log_ml_r(rest_gr: np.ndarray) -> np.ndarray:
    """log10 stellar M/L in r from rest-frame g-r, Bell et al. (2003) table 7."""
    return -0.306 + 1.097 * rest_gr


def main_sequence(log_mstar: np.ndarray) -> np.ndarray:
    """Star-forming main sequence at z ~ 0.1 (log Msun/yr), slope 0.76 (Elbaz et al. 2007)."""
    return 0.76 * (log_mstar - 10.0) + 0.1


def mixture_light(u: np.ndarray, young_frac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Light fractions at 0.1r of the five templates for old and young stars: 2 x (..., T)."""
    t0 = 0.1 + 0.25 * u[..., _U["t0"]]
    t2_old = 0.1 * u[..., _U["t2"]]
    old = np.stack([t0, 0 * t0, t2_old, 1.0 - t0 - t2_old, 0 * t0], axis=-1)
    t1 = 0.03 * u[..., _U["t1"]]
    t4 = (1.0 - t1) * (0.05 + 0.15 * u[..., _U["t4"]])
    young = np.stack([0 * t1, t1, 1.0 - t1 - t4, 0 * t1, t4], axis=-1)
    return old * (1 - young_frac)[..., None], young * young_frac[..., None]


def _propose(u: np.ndarray) -> dict[str, np.ndarray]:
    """Turn uniforms (P, _N_UNIFORM) into P candidate galaxies: dict of (P, ...) arrays."""
    M_grid, cdf, z_max = _proposal_tables()
    M = np.interp(u[:, _U["mag"]], cdf, M_grid)
    v_lo = cosmology.comoving_volume(cosmology.Z_MIN)
    v_hi = cosmology.comoving_volume(np.interp(M, M_grid, z_max))
    z = cosmology.redshift_at_volume(v_lo + u[:, _U["vol"]] * (v_hi - v_lo))
    cum = np.cumsum(class_probabilities(M), axis=-1)
    base = np.minimum(np.sum(u[:, _U["cls"], None] > cum, axis=-1), IRREGULAR)
    sf = u[:, _U["sf"]] < _STAR_FORMING_PROB[base]
    g = ndtri(np.clip(u, 1e-12, 1 - 1e-12))
    delta = np.where(
        sf, _DELTA_MEAN[base] + 0.3 * g[:, _U["delta"]], -1.25 + 0.35 * g[:, _U["delta"]]
    )
    light_old, light_young = mixture_light(u, expit((delta + 0.1) / 0.3))
    scale = 10 ** (-0.4 * (M - K_SHIFT))[:, None] / sed.template_maggies(np.array([0.1]))[0, 2]
    coeff_old, coeff_young = light_old * scale, light_young * scale
    rest = -2.5 * np.log10(sed.continuum_maggies(coeff_old + coeff_young, np.zeros_like(z)))
    rest_gr = rest[:, 1] - rest[:, 2]
    log_mstar = bell_log_ml_r(rest_gr) - 0.4 * (rest[:, 2] - M_SUN_R)
    log_sfr = main_sequence(log_mstar) + delta
    line_flux = _line_flux(log_mstar, log_sfr, sf, z, g)
    template_nmgy = (
        sed.template_maggies(z) * 10 ** (9 - 0.4 * cosmology.distance_modulus(z))[:, None, None]
    )
    line_nmgy = sed.line_maggies(line_flux, z) * 1e9
    flux = np.einsum("nbt,nt->nb", template_nmgy, coeff_old + coeff_young) + line_nmgy
    early = base == ELLIPTICAL
    r50 = shen_r50_kpc(M, early, g[:, _U["size"]]) / cosmology.kpc_per_arcsec(z)
    fwhm_r = np.clip(MEDIAN_SEEING_R * np.exp(0.12 * g[:, _U["psf"]]), 1.05, 1.95)
    fwhm = band_fwhm(fwhm_r, 0.03 * g[:, _U["psf_band"]])
    measured = flux + np.sqrt(model_flux_variance(flux, r50, fwhm)) * g[:, _U["noise"]]
    sigma_star = 10 ** (2.28 - 0.1 * (M + 21.2) + 0.04 * g[:, _U["sigma"]]) * np.where(
        early, 1, 0.6
    )
    return {
        "abs_mag": M,
        "z": z,
        "base": base,
        "star_forming": sf,
        "morph": np.where(u[:, _U["artifact"]] < 0.08, ARTIFACT, base),
        "coeff_old": coeff_old,
        "coeff_young": coeff_young,
        "log_mstar": log_mstar,
        "log_sfr": log_sfr,
        "rest_gr": rest_gr,
        "rest_ur": rest[:, 0] - rest[:, 2],
        "template_nmgy": template_nmgy,
        "line_flux": line_flux,
        "line_nmgy": line_nmgy,
        "flux_nmgy": flux,
        "model_mag": 22.5 - 2.5 * np.log10(np.clip(measured, 1e-3, None)),
        "r50": r50,
        "fwhm": fwhm,
        "sigma_star": sigma_star,
        "sigma_gas": 60.0 * np.exp(0.2 * g[:, _U["sigma"]]),
    }


def _line_flux(
    log_mstar: np.ndarray, log_sfr: np.ndarray, sf: np.ndarray, z: np.ndarray, g: np.ndarray
) -> np.ndarray:
    """Observed line fluxes (P, 8) erg/s/cm^2 from SFR, with mass-dependent dust and ratios.

    A_Halpha(M*) from Garn & Best (2010); [N II]/Ha and [O III]/Hb follow the star-forming
    BPT sequence with mass (metallicity); passive hosts get LINER-like ratios.
    """
    x = log_mstar - 10.0
    a_ha = np.clip(0.91 + 0.77 * x + 0.11 * x**2 - 0.09 * x**3 + 0.25 * g[:, _U["dust"]], 0, 1.5)
    oiii = np.where(sf, np.clip(0.1 - 0.45 * (x + 0.2), -1.0, 0.8), 0.1) + 0.15 * g[:, _U["oiii"]]
    nii = np.where(sf, -0.45 - 0.35 * np.clip(0.5 - x, 0, 2.5), -0.05) + 0.1 * g[:, _U["nii"]]
    oii_ha = 0.56 * 10 ** (0.15 * g[:, _U["oii"]] - 0.15 * np.clip(x, -1, 1.5))
    lum = sed.line_luminosities(10**log_sfr, a_ha, oiii, nii, oii_ha)
    return lum / (4 * np.pi * cosmology.luminosity_distance_cm(z)[:, None] ** 2)


def model_flux_variance(flux: np.ndarray, r50: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """Variance (P, B) nmgy^2 of a model-fit flux: sky over a Gaussian-equivalent area + object."""
    sigma_px = np.sqrt((r50[:, None] / 1.1774) ** 2 + (fwhm / 2.3548) ** 2) / PIXEL_SCALE
    n_eff = 4 * np.pi * sigma_px**2
    return (sky_nmgy_per_pixel() * n_eff + np.clip(flux, 0, None)) / ELECTRONS_PER_NMGY


def draw_population(
    rngs: list[np.random.Generator], index: np.ndarray, spectra_fraction: float
) -> Population:
    """Draw one accepted galaxy per generator (ith galaxy from rngs[i]); the generators advance."""
    head = np.stack([rng.random(3) for rng in rngs])
    chosen: list[dict[str, np.ndarray] | None] = [None] * len(rngs)
    todo = np.arange(len(rngs))
    while todo.size:
        u = np.concatenate([rngs[i].random((N_PROPOSALS, _N_UNIFORM)) for i in todo])
        cand = _propose(u)
        ok = (cand["model_mag"][:, 2] < R_LIMIT).reshape(todo.size, N_PROPOSALS)
        first = np.argmax(ok, axis=1)
        for j, i in enumerate(todo):
            if ok[j, first[j]]:
                chosen[i] = {k: v[j * N_PROPOSALS + first[j]] for k, v in cand.items()}
        todo = np.array([i for i in todo if chosen[i] is None], dtype=int)
    stacked = {name: np.stack([c[name] for c in chosen]) for name in chosen[0]}
    sin_dec = head[:, 1] * np.sin(np.radians(60.0))  # uniform on the sphere, Dec 0..60
    return Population(
        index=np.asarray(index),
        ra=120.0 + 120.0 * head[:, 0],
        dec=np.degrees(np.arcsin(sin_dec)),
        has_spectrum=head[:, 2] < spectra_fraction,
        **stacked,
    )
