"""Colour space: a galaxy's place among the survey's galaxies from its catalogue photometry alone.

Diversity strategies need a space where distance means "a different kind of galaxy". A model's
own embedding is that only once the model has learnt something; colours and brightness are that
from the first label, which is what photometric-redshift codes have always binned and matched in.
"""

from __future__ import annotations

import numpy as np

from bayes.data import asinh_magnitudes

_MAD_TO_SIGMA = 1.4826


def colour_features(flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """(N, P) colours of adjacent bands and the mean magnitude, each robustly standardised.

    flux, ivar: (N, P) nanomaggies and nanomaggies^-2, bands in wavelength order, at least two.
    Lupton asinh magnitudes stay finite for faint and negative fluxes. Each feature is centred on
    its median and divided by 1.4826 MAD over the rows given (the survey), so no colour dominates
    by its units; a colour or mean without valid bands is the median (0). Rows with no photometry
    all land at the centre.
    """
    flux = np.asarray(flux, np.float64)
    ivar = np.asarray(ivar, np.float64)
    if flux.ndim != 2 or flux.shape != ivar.shape:
        raise ValueError(f"flux {flux.shape} and ivar {ivar.shape} must be the same (N, P)")
    if flux.shape[1] < 2:
        raise ValueError(f"colours need at least two bands, got {flux.shape[1]}")
    ok = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
    mag, _ = asinh_magnitudes(np.where(ok, flux, 0.0), np.where(ok, ivar, 0.0))
    both = ok[:, 1:] & ok[:, :-1]
    colours = np.where(both, mag[:, :-1] - mag[:, 1:], np.nan)
    counts = ok.sum(1)
    mean_mag = np.where(counts > 0, np.where(ok, mag, 0.0).sum(1) / np.maximum(counts, 1), np.nan)
    features = np.column_stack([colours, mean_mag])
    centre = np.nanmedian(np.where(np.isfinite(features), features, np.nan), axis=0)
    centre = np.where(np.isfinite(centre), centre, 0.0)
    spread = _MAD_TO_SIGMA * np.nanmedian(np.abs(features - centre), axis=0)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    return np.where(np.isfinite(features), (features - centre) / spread, 0.0)
