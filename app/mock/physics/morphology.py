"""Light profiles of each morphology class as GalSim objects with their share of the SED.

A galaxy is a few achromatic components; each carries template coefficients (its own SED)
and a weight on the galaxy's emission lines, so bulges are redder than disks and star-forming
knots carry the H-alpha. Profiles have unit flux; the renderer scales them per band.
"""

from dataclasses import dataclass

import galsim
import numpy as np

from app.mock.physics.population import EDGE_ON, ELLIPTICAL, IRREGULAR, MERGER, SPIRAL

GSPARAMS = galsim.GSParams(folding_threshold=1e-2, maxk_threshold=2e-3)
R50_RANGE = (0.15, 12.0)  # arcsec; keeps FFTs small for the rare very nearby dwarfs
_ARM_GRID = 128


@dataclass(frozen=True)
class Component:
    """An achromatic galaxy piece: unit-flux profile, template coefficients (T,), line weight."""

    profile: galsim.GSObject
    coeff: np.ndarray
    line_weight: float


def _angle(rng: np.random.Generator) -> galsim.Angle:
    """A uniformly random position angle."""
    return rng.uniform(0.0, np.pi) * galsim.radians


def _sersic(n: float, r50: float) -> galsim.GSObject:
    """Unit-flux Sersic truncated at 8 r50 (flux normalised inside the truncation).

    n is rounded to 0.25 so GalSim reuses its per-n tables (each new n costs ~13 ms).
    """
    n = round(4.0 * n) / 4.0
    return galsim.Sersic(n=n, half_light_radius=r50, trunc=8.0 * r50, gsparams=GSPARAMS)


def _disk_axis_ratio(cos_i: float, thickness: float = 0.15) -> float:
    """Projected axis ratio of an oblate disk of intrinsic thickness c/a at inclination i."""
    return float(np.sqrt(cos_i**2 + thickness**2 * (1.0 - cos_i**2)))


def spiral_disk_image(r50: float, rng: np.random.Generator) -> galsim.InterpolatedImage:
    """Face-on exponential disk modulated by m logarithmic arms, as a unit-flux image profile."""
    h = r50 / 1.678
    scale = max(0.12, 10.0 * h / _ARM_GRID)  # grid spans +-5 scale lengths at least
    y, x = (np.mgrid[:_ARM_GRID, :_ARM_GRID] - _ARM_GRID / 2 + 0.5) * scale
    r, theta = np.hypot(x, y) / h, np.arctan2(y, x)
    m = rng.choice([2, 2, 2, 3, 4])
    pitch = np.radians(rng.uniform(10.0, 30.0))
    amp = rng.uniform(0.6, 1.0) * (1.0 - np.exp(-r))  # arms fade into the bulge
    arms = 1.0 + amp * np.cos(m * (theta - np.log(r + 1e-3) / np.tan(pitch)) + rng.uniform(0, 6.3))
    image = galsim.Image(np.exp(-r) * arms, scale=scale)
    return galsim.InterpolatedImage(image, flux=1.0, gsparams=GSPARAMS)


def _bulge_share(coeff_old: np.ndarray, total_r: float, old_r: float, bt: float) -> np.ndarray:
    """Coefficients of a bulge holding a fraction bt of the r light, taken from the old stars."""
    return coeff_old * min(bt * total_r / old_r, 1.0)


def build_components(
    base: int,
    r50: float,
    coeff_old: np.ndarray,
    coeff_young: np.ndarray,
    template_nmgy_r: np.ndarray,
    line_nmgy_r: float,
    rng: np.random.Generator,
) -> list[Component]:
    """Components of a galaxy of base class (not artifact) with half-light radius r50 (arcsec).

    template_nmgy_r (T,): r-band nmgy per unit coefficient, used to share light by r flux.
    """
    r50 = float(np.clip(r50, *R50_RANGE))
    coeff = coeff_old + coeff_young
    old_r = float(template_nmgy_r @ coeff_old)
    total_r = float(template_nmgy_r @ coeff) + line_nmgy_r
    beta = _angle(rng)
    if base == ELLIPTICAL:
        q = rng.uniform(0.45, 1.0)
        return [Component(_sersic(rng.uniform(3.0, 5.5), r50).shear(q=q, beta=beta), coeff, 1.0)]
    if base in (SPIRAL, EDGE_ON):
        bulge = _bulge_share(
            coeff_old, total_r, old_r, rng.uniform(0.05, 0.45 if base == SPIRAL else 0.3)
        )
        bulge_r50 = r50 * rng.uniform(0.15, 0.35)
        bulge_q = rng.uniform(0.6, 0.95)
        if base == SPIRAL:
            cos_i = rng.uniform(np.cos(np.radians(75.0)), 1.0)
            disk = spiral_disk_image(1.15 * r50, rng).shear(q=_disk_axis_ratio(cos_i), beta=beta)
        else:
            disk = galsim.InclinedExponential(
                rng.uniform(80.0, 90.0) * galsim.degrees,
                half_light_radius=1.15 * r50,
                scale_h_over_r=rng.uniform(0.08, 0.2),
                gsparams=GSPARAMS,
            ).rotate(beta)
        bulge_profile = _sersic(rng.uniform(1.5, 4.0), bulge_r50).shear(q=bulge_q, beta=beta)
        return [Component(bulge_profile, bulge, 0.0), Component(disk, coeff - bulge, 1.0)]
    if base == MERGER:
        return _merger(r50, coeff, rng)
    if base == IRREGULAR:
        knots = galsim.RandomKnots(
            int(rng.integers(15, 50)),
            half_light_radius=r50 * rng.uniform(0.8, 1.2),
            rng=galsim.BaseDeviate(int(rng.integers(1, 2**31))),
            gsparams=GSPARAMS,
        ).shift(*(0.3 * r50 * rng.normal(size=2)))
        disk = galsim.Exponential(half_light_radius=1.3 * r50, gsparams=GSPARAMS)
        disk = disk.shear(q=rng.uniform(0.4, 1.0), beta=beta)
        return [
            Component(knots, coeff_young + 0.3 * coeff_old, 1.0),
            Component(disk, 0.7 * coeff_old, 0.0),
        ]
    raise ValueError(f"no profile for base class {base!r}")


def _merger(r50: float, coeff: np.ndarray, rng: np.random.Generator) -> list[Component]:
    """Primary at the centre, companion 1-3 r50 away, both tidally stretched, plus a tidal tail."""
    sep = rng.uniform(1.0, 3.0) * r50
    phi = rng.uniform(0.0, 2 * np.pi)
    axis = phi * galsim.radians
    offset = sep * np.array([np.cos(phi), np.sin(phi)])
    second = rng.uniform(0.3, 1.0)  # companion / primary light
    tail = rng.uniform(0.08, 0.15)
    shares = np.array([1.0, second, 0.0])
    shares = (1.0 - tail) * shares / shares.sum() + np.array([0.0, 0.0, tail])
    primary = _sersic(rng.uniform(1.0, 4.0), 0.8 * r50).shear(g=rng.uniform(0.1, 0.35), beta=axis)
    companion = _sersic(rng.uniform(1.0, 4.0), rng.uniform(0.4, 0.8) * r50)
    companion = companion.shear(g=rng.uniform(0.1, 0.35), beta=axis).shift(*offset)
    tail_angle = axis + rng.uniform(-0.6, 0.6) * galsim.radians
    tail_profile = galsim.Exponential(
        half_light_radius=rng.uniform(1.0, 2.0) * r50, gsparams=GSPARAMS
    )
    tail_profile = tail_profile.shear(g=rng.uniform(0.6, 0.8), beta=tail_angle)
    tail_profile = tail_profile.shift(*(-rng.uniform(0.5, 1.2) * offset))
    profiles = (primary, companion, tail_profile)
    return [Component(p, s * coeff, float(s)) for p, s in zip(profiles, shares, strict=True)]
