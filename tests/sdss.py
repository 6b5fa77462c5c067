"""Real SDSS photometry for tests: kcorrect's 10,000 main-sample galaxies (ugriz model fluxes,
inverse variances, Galactic extinction, spectroscopic redshifts), shipped with kcorrect."""

from __future__ import annotations

import os
from pathlib import Path

import kcorrect
import numpy as np
from astropy.table import Table

from bayes.data import GalaxyArrays

KCORRECT_FILE = Path(os.path.dirname(kcorrect.__file__)) / "data/test/gst_tests_small.fits"


def photometry(n: int, *, seed: int = 0) -> tuple[GalaxyArrays, np.ndarray]:
    """``n`` galaxies drawn at random (seeded) as extinction-corrected GalaxyArrays, and z."""
    table = Table.read(KCORRECT_FILE)
    rows = np.sort(np.random.default_rng(seed).choice(len(table), n, replace=False))
    a = np.asarray(table["EXTINCTION"][rows], np.float64)
    flux = np.asarray(table["MODELFLUX"][rows], np.float64) * 10 ** (0.4 * a)
    ivar = np.asarray(table["MODELFLUX_IVAR"][rows], np.float64) * 10 ** (-0.8 * a)
    arrays = GalaxyArrays(phot_flux=flux, phot_ivar=ivar, has_photometry=np.ones(n, bool))
    return arrays, np.asarray(table["Z"][rows], np.float64)
