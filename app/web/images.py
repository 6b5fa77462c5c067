"""Galaxy cutouts for the eye: colour composites and per-band views, enlarged smoothly, with a
scale bar in arcsec and north/east arrows where the cutout's WCS says where they point.

Cutouts arrive as (B, H, W) sky-subtracted nanomaggies in the order of their ``bands``. The
default composite maps i, r, g to red, green, blue through one asinh stretch of their summed
intensity, so colours stay true where a core saturates (Lupton et al. 2004, PASP 116, 133);
log and linear stretches, with a contrast factor, are there for faint structure and for cores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from astropy.visualization import (
    LinearStretch,
    LogStretch,
    ManualInterval,
    make_lupton_rgb,
    make_rgb,
)
from PIL import Image, ImageDraw, ImageFont

COMPOSITE_BANDS = ("i", "r", "g")  # red, green, blue
# Per-band weights that give SDSS-like colours (blue bands are fainter per nanomaggy of signal).
BAND_WEIGHTS = {"i": 1.0, "r": 1.3, "g": 2.2}
STRETCH = 0.4  # nanomaggies: the linear range of the asinh, a few times the sky noise
Q = 8.0  # asinh softening: larger compresses bright cores harder
STRETCHES = ("asinh", "log", "linear")
TOP_PERCENTILE = 99.5  # log and linear: the brightest 0.5% of pixels saturate (at contrast 1)
LOG_A = (
    100.0  # log stretch: log(a x + 1) / log(a + 1); ds9 uses 1000, which turns sky noise to speckle
)
NICE_ARCSEC = (0.5, 1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 300)
BAR_FRACTION = 0.3  # the scale bar is the longest nice length within this share of the width


def lupton_rgb(
    image: np.ndarray, bands: Sequence[str], *, stretch: float = STRETCH, q: float = Q
) -> np.ndarray:
    """The i, r, g asinh colour composite of one cutout: (B, H, W) -> (H, W, 3) uint8.

    ValueError naming the missing band if the cutout lacks g, r or i.
    """
    red, green, blue = _composite_bands(image, bands, clip=False)
    # Pixels at or below the sky (zero intensity) come out black; astropy divides there first.
    with np.errstate(invalid="ignore", divide="ignore"):
        return make_lupton_rgb(red, green, blue, minimum=0.0, stretch=stretch, Q=q)


def colour_view(
    image: np.ndarray, bands: Sequence[str], *, stretch: str = "asinh", contrast: float = 1.0
) -> tuple[np.ndarray, str]:
    """The cutout (B, H, W) for the eye and a caption: the g, r, i composite in ``stretch``
    (one of STRETCHES) at ``contrast`` (>1 brightens), or the first band in grey (the caption
    says why) when the cutout lacks one of them."""
    _check_stretch(stretch, contrast)
    try:
        if stretch == "asinh":
            picture = lupton_rgb(image, bands, stretch=STRETCH / contrast)
            return picture, "g, r, i colour composite (Lupton et al. 2004 asinh)"
        red, green, blue = _composite_bands(image, bands)
    except ValueError as err:
        grey = band_view(image[0], stretch=stretch, contrast=contrast)
        return grey, f"band {bands[0] if bands else 0} in grey: {err}"
    planes = [red, green, blue]
    low = _sky_noise(planes)  # sky noise comes out black, not as coloured speckle
    interval = ManualInterval(low, max(_top(planes, contrast), 2 * low))
    picture = make_rgb(red, green, blue, interval=interval, stretch=_stretch(stretch))
    return picture, f"g, r, i colour composite ({stretch} stretch)"


def band_view(
    band: np.ndarray, *, softening: float = 3.0, stretch: str = "asinh", contrast: float = 1.0
) -> np.ndarray:
    """One band as a grey image, (H, W) uint8.

    asinh: of the signal in units of the band's noise (1.4826 MAD), so faint structure near the
    sky shows in every band; log and linear: of the signal above the sky. The brightest 0.5%
    of pixels saturate at contrast 1; ``contrast`` > 1 saturates more.
    """
    _check_stretch(stretch, contrast)
    band = np.asarray(band, dtype=np.float64)
    sky = np.median(band)
    signal = np.clip(band - sky, 0.0, None)
    if stretch == "asinh":
        sigma = 1.4826 * np.median(np.abs(band - sky))
        signal = np.arcsinh(signal / (softening * (sigma if sigma > 0 else 1.0)))
    unit = np.clip(signal / _top([signal], contrast), 0.0, 1.0)
    if stretch != "asinh":
        unit = _stretch(stretch)(unit)
    return (unit * 255).astype(np.uint8)


def _composite_bands(
    image: np.ndarray, bands: Sequence[str], *, clip: bool = True
) -> list[np.ndarray]:
    """The weighted i, r, g planes (negative sky noise set to 0 when ``clip``); ValueError
    naming the missing band if the cutout lacks g, r or i."""
    missing = [b for b in COMPOSITE_BANDS if b not in bands]
    if missing:
        raise ValueError(f"a colour composite needs bands g, r, i; {missing} not in {list(bands)}")
    planes = [
        np.asarray(image[list(bands).index(b)], np.float64) * BAND_WEIGHTS[b]
        for b in COMPOSITE_BANDS
    ]
    return [np.clip(p, 0.0, None) for p in planes] if clip else planes


def _top(planes: list[np.ndarray], contrast: float) -> float:
    """The value that maps to white: the TOP_PERCENTILE of the brightest plane, / contrast."""
    top = max(float(np.percentile(p, TOP_PERCENTILE)) for p in planes) / contrast
    return top if top > 0 else 1.0


def _sky_noise(planes: list[np.ndarray]) -> float:
    """The largest 1.4826 MAD about the median of sky-subtracted planes: one noise sigma."""
    return max(1.4826 * float(np.median(np.abs(p - np.median(p)))) for p in planes)


def _stretch(name: str) -> LinearStretch | LogStretch:
    return LogStretch(a=LOG_A) if name == "log" else LinearStretch()


def _check_stretch(stretch: str, contrast: float) -> None:
    if stretch not in STRETCHES:
        raise ValueError(f"unknown stretch {stretch!r}; choose from {STRETCHES}")
    if not (np.isfinite(contrast) and contrast > 0):
        raise ValueError(f"contrast must be a positive number, got {contrast!r}")


def zoom(picture: np.ndarray, factor: float, *, size: int) -> np.ndarray:
    """The central 1/``factor`` of ``picture`` (H, W[, 3]), enlarged to ``size`` pixels square
    with Lanczos resampling: smooth, without the blocks and speckle of repeated pixels."""
    if factor < 1:
        raise ValueError(f"zoom factor must be >= 1, got {factor}")
    height, width = picture.shape[:2]
    crop_h, crop_w = max(1, round(height / factor)), max(1, round(width / factor))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = np.ascontiguousarray(picture[top : top + crop_h, left : left + crop_w])
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS))


def north_up(picture: np.ndarray, orientation: Mapping[str, Sequence[float]] | None) -> bool:
    """Whether to flip ``picture``'s rows so north points up the screen: when the cutout's
    north runs towards higher rows (the FITS convention; the screen draws row 0 at the top)."""
    return orientation is not None and orientation["north"][1] > 0


def for_eye(
    picture: np.ndarray,
    *,
    factor: float,
    size: int,
    pixel_scale: float | None,
    orientation: Mapping[str, Sequence[float]] | None,
) -> tuple[np.ndarray, str]:
    """``picture`` (H, W[, 3]) zoomed by ``factor`` to ``size`` pixels, north up where its
    orientation is known, with a scale bar (``pixel_scale`` arcsec per pixel) and north/east
    arrows drawn on it; and a caption saying what was drawn."""
    flip = north_up(picture, orientation)
    shown = zoom(picture[::-1] if flip else picture, factor, size=size)
    canvas = Image.fromarray(shown).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(12, size // 24))
    notes = []
    if pixel_scale:
        field = picture.shape[1] / factor * pixel_scale  # arcsec across the shown width
        length = scale_bar_arcsec(field)
        pixels = round(length / field * size)
        x0, y0 = size // 20, size - size // 14
        draw.line([(x0, y0), (x0 + pixels, y0)], fill="white", width=max(2, size // 128))
        draw.text((x0, y0 - 4), f'{length:g}"', fill="white", font=font, anchor="ld",
                  stroke_width=2, stroke_fill="black")  # fmt: skip
        notes.append(f"bar {_arcsec(length)}")
    if orientation is not None:
        origin = np.array([size - size // 8, size // 8 + size // 32], float)
        for name in ("north", "east"):
            dx, dy = orientation[name]
            tip = origin + np.array([dx, -dy if flip else dy]) * size / 10
            draw.line([tuple(origin), tuple(tip)], fill="white", width=max(2, size // 160))
            label = tip + (tip - origin) * 0.35
            draw.text(tuple(label), name[0].upper(), fill="white", font=font, anchor="mm",
                      stroke_width=2, stroke_fill="black")  # fmt: skip
        notes.append("N and E from the cutout's WCS" + (", north up" if flip else ""))
    else:
        notes.append("orientation unknown (no WCS)")
    return np.asarray(canvas), "; ".join(notes)


def scale_bar_arcsec(field: float) -> float:
    """The longest of NICE_ARCSEC within BAR_FRACTION of a ``field`` arcsec wide (the
    shortest when even that is longer)."""
    fitting = [n for n in NICE_ARCSEC if n <= BAR_FRACTION * field]
    return float(fitting[-1] if fitting else NICE_ARCSEC[0])


def _arcsec(length: float) -> str:
    """'5″' (a double prime; the image's built-in font draws it as '5"')."""
    return f"{length:g}\u2033"
