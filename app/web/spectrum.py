"""A spectrum as the labeler reads it: flux against observed wavelength, with the lines a
galaxy at the model's redshift would show marked where they fall."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
LABEL_ROWS = (2, 44)  # pixels from the top: neighbouring lines' names alternate rows
MAX_POINTS = 1500  # plotted samples; wider spectra are averaged in bins (the eye sees no more)


def observed_lines(z: float, wave_min: float, wave_max: float) -> list[tuple[Line, float]]:
    """The lines that fall in [wave_min, wave_max] Å at redshift ``z``, with their observed
    wavelength (1 + z) times the rest one."""
    shifted = [(line, line.rest * (1.0 + z)) for line in LINES]
    return [(line, wave) for line, wave in shifted if wave_min <= wave <= wave_max]


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
    wave: np.ndarray, flux: np.ndarray, ivar: np.ndarray, *, z: float | None, flux_unit: str
) -> dict[str, Any]:
    """A Vega-Lite spec: flux against observed wavelength, with dashed markers (blue emission,
    red absorption) at the lines' wavelengths for redshift ``z`` (none if None)."""
    w, f = binned(wave, flux, ivar)
    lines = observed_lines(z, float(w.min()), float(w.max())) if z is not None and len(w) else []
    marks = [
        {
            "wavelength": round(obs, 1),
            "line": line.name,
            "kind": line.kind,
            "rest": line.rest,
            "top": LABEL_ROWS[i % len(LABEL_ROWS)],
        }
        for i, (line, obs) in enumerate(lines)
    ]
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
        "legend": {"title": None, "orient": "top"},
    }
    points = [{"wavelength": a, "flux": b} for a, b in zip(w.tolist(), f.tolist(), strict=True)]
    curve = {
        "data": {"values": points},
        "mark": {"type": "line", "strokeWidth": 1, "color": "#444"},
        "encoding": {
            "x": x,
            "y": {"field": "flux", "type": "quantitative", "title": f"flux ({flux_unit})"},
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
        "data": {"values": marks},
        "mark": {"type": "text", "angle": 270, "align": "right", "dy": -3},
        "encoding": {
            "x": {"field": "wavelength", "type": "quantitative"},
            "y": {"field": "top", "type": "quantitative", "scale": None},
            "text": {"field": "line"},
            "color": colour,
        },
    }
    return {"layer": [curve, rules, labels], "height": 300}
