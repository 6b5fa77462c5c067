"""Galaxy cutouts for the eye: a Lupton et al. (2004) asinh colour composite and per-band views.

Cutouts arrive as (B, H, W) sky-subtracted nanomaggies in the order of their ``bands``. The
composite maps i, r, g to red, green, blue through one asinh stretch of their summed
intensity, so colours stay true where a core saturates (Lupton et al. 2004, PASP 116, 133).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from astropy.visualization import make_lupton_rgb
from PIL import Image

COMPOSITE_BANDS = ("i", "r", "g")  # red, green, blue
# Per-band weights that give SDSS-like colours (blue bands are fainter per nanomaggy of signal).
BAND_WEIGHTS = {"i": 1.0, "r": 1.3, "g": 2.2}
STRETCH = 0.4  # nanomaggies: the linear range of the asinh, a few times the sky noise
Q = 8.0  # asinh softening: larger compresses bright cores harder


def lupton_rgb(
    image: np.ndarray, bands: Sequence[str], *, stretch: float = STRETCH, q: float = Q
) -> np.ndarray:
    """The i, r, g asinh colour composite of one cutout: (B, H, W) -> (H, W, 3) uint8.

    ValueError naming the missing band if the cutout lacks g, r or i.
    """
    missing = [b for b in COMPOSITE_BANDS if b not in bands]
    if missing:
        raise ValueError(f"a colour composite needs bands g, r, i; {missing} not in {list(bands)}")
    red, green, blue = (
        np.asarray(image[list(bands).index(b)], dtype=np.float64) * BAND_WEIGHTS[b]
        for b in COMPOSITE_BANDS
    )
    # Pixels at or below the sky (zero intensity) come out black; astropy divides there first.
    with np.errstate(invalid="ignore", divide="ignore"):
        return make_lupton_rgb(red, green, blue, minimum=0.0, stretch=stretch, Q=q)


def colour_view(image: np.ndarray, bands: Sequence[str]) -> tuple[np.ndarray, str]:
    """The cutout (B, H, W) for the eye and a caption: the g, r, i composite, or the first band
    in grey (the caption says why) when the cutout lacks one of them."""
    try:
        return lupton_rgb(image, bands), "g, r, i colour composite (Lupton et al. 2004 asinh)"
    except ValueError as err:
        return band_view(image[0]), f"band {bands[0] if bands else 0} in grey: {err}"


def band_view(band: np.ndarray, *, softening: float = 3.0) -> np.ndarray:
    """One band as a grey image: asinh of the signal in units of the band's noise, (H, W) uint8.

    The noise is 1.4826 times the median absolute deviation, so faint structure near the sky
    shows in every band; the brightest 0.5% of pixels saturate.
    """
    band = np.asarray(band, dtype=np.float64)
    sky = np.median(band)
    sigma = 1.4826 * np.median(np.abs(band - sky))
    sigma = sigma if sigma > 0 else 1.0
    scaled = np.arcsinh(np.clip(band - sky, 0.0, None) / (softening * sigma))
    top = np.percentile(scaled, 99.5)
    top = top if top > 0 else 1.0
    return (np.clip(scaled / top, 0.0, 1.0) * 255).astype(np.uint8)


def zoom(picture: np.ndarray, factor: float, *, size: int) -> np.ndarray:
    """The central 1/``factor`` of ``picture`` (H, W[, 3]), enlarged to ``size`` pixels square
    with nearest-neighbour resampling so the survey's pixels stay visible."""
    if factor < 1:
        raise ValueError(f"zoom factor must be >= 1, got {factor}")
    height, width = picture.shape[:2]
    crop_h, crop_w = max(1, round(height / factor)), max(1, round(width / factor))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = np.ascontiguousarray(picture[top : top + crop_h, left : left + crop_w])
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.NEAREST))
