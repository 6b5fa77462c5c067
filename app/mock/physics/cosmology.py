"""Flat LambdaCDM distance and volume tables (H0=70, Om=0.3), built once per process."""

from functools import lru_cache

import numpy as np
from astropy.cosmology import FlatLambdaCDM

Z_MIN = 0.005  # below this peculiar velocities dominate the Hubble flow
Z_MAX = 0.4  # the SDSS main sample has essentially no galaxies beyond r<17.77 past z~0.35
_Z_GRID = np.linspace(0.0005, 0.45, 900)
_MPC_CM = 3.0856775814913673e24


@lru_cache(maxsize=1)
def _tables() -> dict[str, np.ndarray]:
    """Distance modulus, luminosity/angular distances (Mpc) and comoving volume on a z grid."""
    cosmo = FlatLambdaCDM(H0=70.0, Om0=0.3)
    return {
        "dm": np.asarray(cosmo.distmod(_Z_GRID).value),
        "dl": np.asarray(cosmo.luminosity_distance(_Z_GRID).value),
        "da": np.asarray(cosmo.angular_diameter_distance(_Z_GRID).value),
        "vc": np.asarray(cosmo.comoving_volume(_Z_GRID).value),
    }


def distance_modulus(z: np.ndarray) -> np.ndarray:
    """Distance modulus m - M (mag) at redshift z, shape of z."""
    return np.interp(z, _Z_GRID, _tables()["dm"])


def luminosity_distance_cm(z: np.ndarray) -> np.ndarray:
    """Luminosity distance (cm) at redshift z, to turn luminosities into fluxes."""
    return np.interp(z, _Z_GRID, _tables()["dl"]) * _MPC_CM


def kpc_per_arcsec(z: np.ndarray) -> np.ndarray:
    """Proper kpc per arcsec at redshift z, to turn physical sizes into angles."""
    return np.interp(z, _Z_GRID, _tables()["da"]) * 1e3 * np.pi / (180.0 * 3600.0)


def comoving_volume(z: np.ndarray) -> np.ndarray:
    """All-sky comoving volume (Mpc^3) inside redshift z; its derivative is the z prior."""
    return np.interp(z, _Z_GRID, _tables()["vc"])


def redshift_at_volume(v: np.ndarray) -> np.ndarray:
    """Inverse of comoving_volume: the z enclosing comoving volume v (Mpc^3)."""
    return np.interp(v, _tables()["vc"], _Z_GRID)
