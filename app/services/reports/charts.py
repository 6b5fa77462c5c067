"""The uncertainty report's figures as interactive Vega-Lite specs for the reports page: hover a
point for its exact numbers, drag and scroll the embedding map to pan and zoom, click a class in
its legend to pick it out. The downloadable HTML keeps the matplotlib PNGs (it needs nothing from
the network); these draw the same numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.services.data.class_names import display_names
from app.services.reports.calibration_plots import binomial_interval
from app.services.reports.regression_calibration import RegressionCalibration
from app.services.reports.uncertainty import Reliability, ReportData, VersionPoint

Spec = dict[str, Any]
UNIT = {"domain": [0, 1]}
LEARNING_CAPTION = (
    "Validation metrics of each version, oldest first; hover a point for the labels it learnt "
    "from. Once random-control galaxies have answers, a second line shows the accuracy of the "
    "version that queued them on those labels (prequential, unbiased by the model's own picks)."
)


def _q(field: str, title: str | None, **more: Any) -> dict[str, Any]:
    return {"field": field, "type": "quantitative", "title": title, **more}


def _diagonal() -> Spec:
    """The dashed line of calibration, a layer of its own (a new dict: specs get edited)."""
    return {
        "data": {"values": [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 1.0}]},
        "mark": {"type": "line", "strokeDash": [4, 4], "color": "#888"},
        "encoding": {
            "x": {"field": "x", "type": "quantitative"},
            "y": {"field": "y", "type": "quantitative"},
        },
    }


def _finite(x: float | None) -> float | None:
    """A JSON-safe number: None for a missing or non-finite value."""
    return None if x is None or not math.isfinite(x) else round(float(x), 5)


def coverage_chart(items: Sequence[RegressionCalibration]) -> Spec:
    """Observed against nominal coverage of the central interval, a line per regression task,
    over the diagonal of calibration; each point's tooltip gives both and the galaxies behind."""
    rows = [
        {"task": r.task, "nominal": float(level), "observed": _finite(c), "galaxies": r.n}
        for r in items
        for level, c in zip(r.levels, r.coverage, strict=True)
    ]
    return {
        "height": 360,
        "layer": [
            _diagonal(),
            {
                "data": {"values": rows},
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": _q("nominal", "nominal level of the central interval", scale=UNIT),
                    "y": _q("observed", "observed coverage", scale=UNIT),
                    "color": {"field": "task", "type": "nominal", "title": None},
                    "tooltip": [
                        {"field": "task"},
                        _q("nominal", "nominal", format=".0%"),
                        _q("observed", "observed", format=".1%"),
                        _q("galaxies", "galaxies"),
                    ],
                },
            },
        ],
    }


def reliability_chart(rel: Reliability) -> Spec:
    """Accuracy per confidence bin as bars with their 68% Wilson interval and galaxy count, over
    the diagonal; empty bins are left out."""
    bins = len(rel.count)
    low, high = binomial_interval(np.nan_to_num(rel.accuracy) * rel.count, rel.count)
    rows = [
        {
            "from": k / bins, "to": (k + 1) / bins, "accuracy": _finite(rel.accuracy[k]),
            "confidence": _finite(rel.confidence[k]), "galaxies": int(rel.count[k]),
            "low": _finite(low[k]), "high": _finite(high[k]),
        }
        for k in range(bins)
        if rel.count[k] > 0
    ]  # fmt: skip
    x = _q("from", "confidence (top-class probability)", scale=UNIT)
    tooltip = [
        _q("from", "confidence from", format=".2f"),
        _q("to", "to", format=".2f"),
        _q("confidence", "mean confidence", format=".3f"),
        _q("accuracy", "accuracy", format=".3f"),
        _q("low", "68% interval from", format=".3f"),
        _q("high", "to", format=".3f"),
        _q("galaxies", "galaxies"),
    ]
    return {
        "height": 360,
        "data": {"values": rows},
        "layer": [
            {
                "mark": {"type": "bar", "color": "#4c78a8", "stroke": "white"},
                "encoding": {
                    "x": x, "x2": {"field": "to"},
                    "y": _q("accuracy", "accuracy", scale={"domain": [0, 1.08]}),
                    "y2": {"datum": 0},
                    "tooltip": tooltip,
                },
            },
            {
                "mark": {"type": "rule", "color": "#222"},
                "encoding": {
                    "x": {"field": "centre", "type": "quantitative"},
                    "y": {"field": "low", "type": "quantitative"},
                    "y2": {"field": "high"},
                },
                "transform": [{"calculate": "(datum.from + datum.to) / 2", "as": "centre"}],
            },
            {
                "mark": {"type": "text", "baseline": "bottom", "dy": -2, "fontSize": 10},
                "encoding": {
                    "x": {"field": "centre", "type": "quantitative"},
                    "y": {"datum": 1.0},
                    "text": {"field": "galaxies"},
                },
                "transform": [{"calculate": "(datum.from + datum.to) / 2", "as": "centre"}],
            },
            _diagonal(),
        ],
    }  # fmt: skip


def learning_chart(points: Sequence[VersionPoint]) -> Spec:
    """Each version's validation accuracy and σ_NMAD (oldest first, a panel per metric, each on
    its own scale from zero), and its prequential accuracy on random-control labels where it has
    some; the tooltip names the version and the labels it learnt from."""
    rows = []
    for order, p in enumerate(points, start=1):
        base = {"order": order, "version": p.name, "labels": p.n_labels or 0}
        for metric, value, kind in (
            ("accuracy", p.accuracy, "validation"),
            ("accuracy", p.control_accuracy if p.n_control else None, "random-control labels"),
            ("σ_NMAD (redshift)", p.sigma_nmad, "validation"),
        ):
            if _finite(value) is not None:
                rows.append({**base, "metric": metric, "value": _finite(value), "on": kind})
    return {
        "data": {"values": rows},
        "facet": {"column": {"field": "metric", "type": "nominal", "title": None}},
        "resolve": {"scale": {"y": "independent"}},
        "spec": {
            "width": 320,
            "height": 260,
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": {"field": "version", "type": "ordinal", "sort": {"field": "order"},
                      "title": "version, oldest first", "axis": {"labelAngle": 0}},
                "y": _q("value", None, axis={"format": ".3~f"}),
                "color": {"field": "on", "type": "nominal", "title": None},
                "tooltip": [
                    {"field": "version"}, _q("labels", "labels learnt from"),
                    {"field": "on", "title": "measured on"}, _q("value", "value", format=".4f"),
                ],
            },
        },
    }  # fmt: skip


def embedding_chart(data: ReportData, *, colour: str = "BALD") -> Spec:
    """The t-SNE map of posterior embeddings coloured by ``colour`` ("BALD" or "predicted
    class"); hover a galaxy for its id, class and BALD; drag to pan, scroll to zoom."""
    names = display_names(data.classes)
    ids = data.embedding_ids if len(data.embedding_ids) else np.arange(len(data.embedding))
    rows = [
        {
            "x": round(float(x), 3), "y": round(float(y), 3), "galaxy": str(i),
            "BALD": float(f"{b:.4g}"),
            "predicted class": names[int(c)] if names else "—",
        }
        for (x, y), i, b, c in zip(
            data.embedding, ids, data.embedding_bald, data.embedding_class, strict=True
        )
    ]  # fmt: skip
    params: list[dict[str, Any]] = [{"name": "zoom", "select": "interval", "bind": "scales"}]
    opacity: dict[str, Any] = {"value": 0.8}
    if colour == "BALD":
        colour_by = _q("BALD", "BALD (nats)", scale={"scheme": "viridis"})
    else:
        colour_by = {"field": "predicted class", "type": "nominal", "title": None}
        pick = {"type": "point", "fields": ["predicted class"]}
        params.append({"name": "pick", "select": pick, "bind": "legend"})
        opacity = {"condition": {"param": "pick", "value": 0.8}, "value": 0.05}
    return {
        "height": 460,
        "data": {"values": rows},
        "params": params,
        "mark": {"type": "circle", "size": 18},
        "encoding": {
            "opacity": opacity,
            "x": {"field": "x", "type": "quantitative", "axis": None},
            "y": {"field": "y", "type": "quantitative", "axis": None},
            "color": colour_by,
            "tooltip": [
                {"field": "galaxy"}, {"field": "predicted class"},
                _q("BALD", "BALD (nats)", format=".4f"),
            ],
        },
    }  # fmt: skip
