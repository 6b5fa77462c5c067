"""A spectrum as the labeler reads it: flux against observed wavelength in proper units,
optionally smoothed, with the lines a galaxy at a redshift (the measured one when there is one)
would show marked where they fall, their names level and apart."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import astropy.units as u
import numpy as np


@dataclass(frozen=True)
class Line:
    """A spectral line: its name, rest wavelength (Å) and whether star formation (emission)
    or old stars (absorption) make it."""

    name: str
    rest: float
    kind: str


LINES = (
    Line("[OII]", 3727.0, "emission"),
    Line("Ca K", 3934.0, "absorption"),
    Line("Ca H", 3969.0, "absorption"),
    Line("Hβ", 4861.0, "emission"),
    Line("[OIII]", 5007.0, "emission"),
    Line("Mg b", 5175.0, "absorption"),
    Line("Na D", 5893.0, "absorption"),
    Line("Hα", 6563.0, "emission"),  # noqa: RUF001 (the astronomers' name)
    Line("[NII]", 6583.0, "emission"),
)
LINE_COLOURS = {"emission": "#1f77b4", "absorption": "#d62728"}
LABEL_ROWS = (4, 20, 36)  # pixels from the top: a name goes to the first row with room
LABEL_FONT = 12  # px
PLOT_PIXELS = 700  # the plot's width assumed when judging whether two names overlap
CHAR_PIXELS = 7.5  # width of one character at LABEL_FONT
MAX_POINTS = 1500  # plotted samples; wider spectra are averaged in bins (the eye sees no more)
SMOOTHING = (1, 3, 5, 9, 15)  # boxcar widths in pixels offered (1: none)
SKETCH_HEIGHT = 220  # px of the label deck's spectrum (PLOT_PIXELS wide)
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_UNIT_ORDER = {"erg": 0, "J": 0, "W": 0, "s": 1, "cm": 2, "m": 2, "Angstrom": 3, "nm": 3}


def observed_lines(z: float, wave_min: float, wave_max: float) -> list[tuple[Line, float]]:
    """The lines that fall in [wave_min, wave_max] Å at redshift ``z``, with their observed
    wavelength (1 + z) times the rest one."""
    shifted = [(line, line.rest * (1.0 + z)) for line in LINES]
    return [(line, wave) for line, wave in shifted if wave_min <= wave <= wave_max]


def smoothed(flux: np.ndarray, ivar: np.ndarray, width: int) -> np.ndarray:
    """``flux`` (L,) averaged over ``width`` neighbouring pixels (odd), each weighted by its
    inverse variance, so masked pixels (ivar 0) do not pull it; width 1 returns it unchanged."""
    if width < 1 or width % 2 == 0:
        raise ValueError(f"smoothing width must be a positive odd number, got {width}")
    if width == 1:
        return flux
    good = (ivar > 0) & np.isfinite(flux)
    w = np.where(good, ivar, 0.0)
    kernel = np.ones(width)
    total = np.convolve(w, kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.convolve(np.where(good, flux, 0.0) * w, kernel, mode="same") / total
    return np.where(total > 0, out, flux)


def unit_label(text: str) -> str:
    """A flux unit as astronomers write it: '1e-17 erg / (s cm2 Angstrom)' ->
    '10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹'; text astropy cannot parse comes back as it is."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            unit = u.Unit(text, parse_strict="raise")
    except (ValueError, TypeError):
        return text
    parts = sorted(
        zip(unit.bases, unit.powers, strict=True),
        key=lambda bp: _UNIT_ORDER.get(bp[0].name, len(_UNIT_ORDER)),
    )
    named = []
    for base, power in parts:
        name = "Å" if base.name == "Angstrom" else base.to_string()
        exponent = "" if power == 1 else str(power).translate(_SUPERSCRIPT)
        named.append(name + exponent)
    scale = ""
    if unit.scale != 1:
        exponent = math.log10(abs(unit.scale))
        if unit.scale > 0 and abs(exponent - round(exponent)) < 1e-9:
            scale = "10" + str(round(exponent)).translate(_SUPERSCRIPT) + " "
        else:
            scale = f"{unit.scale:g} "
    return scale + " ".join(named)


def line_labels(lines: list[tuple[Line, float]], span: float) -> list[dict[str, Any]]:
    """Where each line's name goes: lines closer than a name's width share one label ("Ca K+H",
    "H-alpha+[NII]"); the others go to the first of LABEL_ROWS where they clear the names already
    there. ``span``: the plotted wavelength range (Å). [{line, wavelength, top}], by wavelength."""
    per_pixel = span / PLOT_PIXELS
    groups: list[list[tuple[Line, float]]] = []
    for line, wave in sorted(lines, key=lambda lw: lw[1]):
        if groups and wave - groups[-1][-1][1] < 3 * CHAR_PIXELS * per_pixel:
            groups[-1].append((line, wave))
        else:
            groups.append([(line, wave)])
    ends = [-math.inf] * len(LABEL_ROWS)
    out = []
    for group in groups:
        text = _joined([line.name for line, _ in group])
        centre = float(np.mean([wave for _, wave in group]))
        half = len(text) * CHAR_PIXELS * per_pixel / 2
        row = next((r for r, end in enumerate(ends) if centre - half > end), int(np.argmin(ends)))
        ends[row] = centre + half + CHAR_PIXELS * per_pixel
        out.append({"text": text, "wavelength": round(centre, 1), "top": LABEL_ROWS[row]})
    return out


def _joined(names: list[str]) -> str:
    """'Ca K', 'Ca H' -> 'Ca K+H'; 'H-alpha', '[NII]' -> 'H-alpha+[NII]'."""
    first = names[0].split(" ")
    if len(first) == 2 and all(n.startswith(first[0] + " ") for n in names):
        return first[0] + " " + "+".join(n.split(" ", 1)[1] for n in names)
    return "+".join(names)


def binned(
    wave: np.ndarray, flux: np.ndarray, ivar: np.ndarray, *, max_points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """The valid samples (ivar > 0) of one spectrum (L,), inverse-variance averaged in equal
    bins of at most ``max_points``; (wavelength, flux), each (n,)."""
    keep = (ivar > 0) & np.isfinite(flux) & np.isfinite(wave)
    wave, flux, ivar = wave[keep], flux[keep], ivar[keep]
    factor = max(1, int(np.ceil(len(wave) / max_points)))
    n = len(wave) // factor * factor
    if factor == 1 or n == 0:
        return wave, flux
    weight = ivar[:n].reshape(-1, factor)
    total = weight.sum(1)
    return (
        (wave[:n].reshape(-1, factor) * weight).sum(1) / total,
        (flux[:n].reshape(-1, factor) * weight).sum(1) / total,
    )


def spectrum_spec(
    wave: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    *,
    z: float | None,
    flux_unit: str,
    smooth: int = 1,
) -> dict[str, Any]:
    """A Vega-Lite spec: flux (boxcar-``smooth``ed) against observed wavelength, with dashed
    markers (blue emission, red absorption) at the lines' wavelengths for redshift ``z`` (none
    if None) and their names level, close lines sharing one (:func:`line_labels`)."""
    w, f = binned(wave, smoothed(flux, ivar, smooth), ivar)
    lines = observed_lines(z, float(w.min()), float(w.max())) if z is not None and len(w) else []
    marks = [
        {"wavelength": round(obs, 1), "line": line.name, "kind": line.kind, "rest": line.rest}
        for line, obs in lines
    ]
    names = line_labels(lines, float(w.max() - w.min())) if lines else []
    x = {
        "field": "wavelength",
        "type": "quantitative",
        "title": "observed wavelength (Å)",
        "scale": {"zero": False, "nice": False},
    }
    colour = {
        "field": "kind",
        "type": "nominal",
        "scale": {"domain": list(LINE_COLOURS), "range": list(LINE_COLOURS.values())},
        "legend": {"title": None, "orient": "top", "labelFontSize": LABEL_FONT},
    }
    points = [{"wavelength": a, "flux": b} for a, b in zip(w.tolist(), f.tolist(), strict=True)]
    curve = {
        "data": {"values": points},
        "mark": {"type": "line", "strokeWidth": 1, "color": "#444"},
        "encoding": {
            "x": x,
            "y": {
                "field": "flux",
                "type": "quantitative",
                "title": f"flux ({unit_label(flux_unit)})",
            },
        },
    }
    rules = {
        "data": {"values": marks},
        "mark": {"type": "rule", "strokeDash": [4, 3], "opacity": 0.8},
        "encoding": {
            "x": {"field": "wavelength", "type": "quantitative"},
            "color": colour,
            "tooltip": [{"field": k} for k in ("line", "rest", "wavelength")],
        },
    }
    labels = {
        "data": {"values": names},
        "mark": {"type": "text", "fontSize": LABEL_FONT, "baseline": "top", "color": "#222"},
        "encoding": {
            "x": {"field": "wavelength", "type": "quantitative"},
            "y": {"field": "top", "type": "quantitative", "scale": None},
            "text": {"field": "text"},
        },
    }
    return {
        "layer": [curve, rules, labels],
        "height": 320,
        "config": {"axis": {"labelFontSize": LABEL_FONT, "titleFontSize": LABEL_FONT + 1}},
    }


def sketch(
    wave: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    *,
    z: float | None,
    flux_unit: str,
    height: int = SKETCH_HEIGHT,
) -> dict[str, Any] | None:
    """The spectrum as the label deck draws it in SVG, PLOT_PIXELS by ``height``: the polyline
    (1st–99th percentile of flux in range), the lines at redshift ``z`` (none if None) and
    their names, level and merged as in :func:`line_labels`; None without valid samples."""
    w, f = binned(wave, flux, ivar, max_points=PLOT_PIXELS)
    if len(w) < 2:
        return None
    low, high = np.percentile(f, [1, 99])
    pad = 0.08 * (high - low) or 1.0
    low, high = low - pad, high + pad
    top = LABEL_ROWS[-1] + LABEL_FONT + 4  # the names sit above the plot

    def across(wavelength: np.ndarray | float) -> np.ndarray:
        return (np.asarray(wavelength) - w[0]) / (w[-1] - w[0]) * PLOT_PIXELS

    x = across(w)
    y = top + (high - np.clip(f, low, high)) / (high - low) * (height - top)
    lines = observed_lines(z, float(w[0]), float(w[-1])) if z is not None else []
    return {
        "width": PLOT_PIXELS,
        "height": height,
        "top": top,
        "points": " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True)),
        "marks": [{"x": round(float(across(obs)), 1), "colour": LINE_COLOURS[line.kind]}
                  for line, obs in lines],
        "names": [{"x": _inside(float(across(n["wavelength"])), n["text"]),
                   "y": n["top"] + LABEL_FONT, "text": n["text"]}
                  for n in line_labels(lines, float(w[-1] - w[0]))],
        "axis": f"Observed wavelength {w[0]:.0f}–{w[-1]:.0f} Å; flux in {unit_label(flux_unit)}",
    }  # fmt: skip


def _inside(x: float, text: str) -> float:
    """``x`` moved so a name centred there stays inside the PLOT_PIXELS-wide plot."""
    half = len(text) * CHAR_PIXELS / 2
    return round(min(max(x, half), PLOT_PIXELS - half), 1)
