"""Where north and east point on a cutout, from its celestial WCS."""

from __future__ import annotations

import numpy as np
from astropy.wcs import WCS

from storage.ingest.records import Orientation

_STEP_DEG = 1.0 / 3600.0  # one arcsec: small enough that the projection is linear over it


def orientation_from_wcs(wcs: WCS | None, shape: tuple[int, ...]) -> Orientation | None:
    """Unit vectors of north and east at the centre of a (..., H, W) cutout, in array
    coordinates (x the column, y the row index); None without a WCS or where it is singular."""
    if wcs is None:
        return None
    try:
        celestial = wcs.celestial
        x0, y0 = (shape[-1] - 1) / 2.0, (shape[-2] - 1) / 2.0
        (ra, dec), *_ = celestial.wcs_pix2world([[x0, y0]], 0)
        east_ra = ra + _STEP_DEG / max(np.cos(np.radians(dec)), 1e-6)
        points = celestial.wcs_world2pix([[ra, dec + _STEP_DEG], [east_ra, dec]], 0)
    except Exception:
        return None
    vectors = []
    for px, py in points:
        d = np.array([px - x0, py - y0])
        norm = float(np.hypot(*d))
        if not np.isfinite(norm) or norm == 0.0:
            return None
        vectors.append(tuple(float(v) for v in np.round(d / norm, 6)))
    return Orientation(north=vectors[0], east=vectors[1])
