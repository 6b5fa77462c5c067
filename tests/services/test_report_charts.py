"""The reports page's interactive charts carry the same numbers as the report's data: every
coverage level, every non-empty reliability bin with its count and Wilson interval, a point per
version and metric, and every mapped galaxy with its id."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.services.reports import charts
from app.services.reports.calibration_plots import binomial_interval
from tests.services.test_uncertainty_report import report_data


def test_coverage_chart_has_every_level_of_every_task() -> None:
    data = report_data()
    spec = charts.coverage_chart(data.regressions)
    rows = [r for layer in spec["layer"] for r in layer["data"]["values"] if "task" in r]
    for r in data.regressions:
        mine = [x for x in rows if x["task"] == r.task]
        assert [x["nominal"] for x in mine] == list(r.levels)
        np.testing.assert_allclose([x["observed"] for x in mine], r.coverage, atol=1e-5)
        assert {x["galaxies"] for x in mine} == {r.n}


def test_reliability_chart_keeps_counts_and_intervals_of_filled_bins() -> None:
    rel = report_data().reliability
    rows = charts.reliability_chart(rel)["data"]["values"]
    filled = np.flatnonzero(rel.count > 0)
    assert [round(r["from"] * len(rel.count)) for r in rows] == filled.tolist()
    assert sum(r["galaxies"] for r in rows) == rel.count.sum() == 50
    low, high = binomial_interval(np.nan_to_num(rel.accuracy) * rel.count, rel.count)
    np.testing.assert_allclose([r["low"] for r in rows], low[filled], atol=1e-5)
    np.testing.assert_allclose([r["high"] for r in rows], high[filled], atol=1e-5)
    assert all(r["low"] <= r["accuracy"] <= r["high"] for r in rows)


def test_learning_chart_has_a_point_per_version_and_metric() -> None:
    points = report_data().points
    rows = charts.learning_chart(points)["data"]["values"]
    # v1: accuracy, σ_NMAD (no control labels); v2: accuracy, control accuracy, σ_NMAD
    assert [(r["version"], r["metric"], r["on"]) for r in rows] == [
        ("mock-v1", "accuracy", "validation"),
        ("mock-v1", "σ_NMAD (redshift)", "validation"),
        ("mock-v2", "accuracy", "validation"),
        ("mock-v2", "accuracy", "random-control labels"),
        ("mock-v2", "σ_NMAD (redshift)", "validation"),
    ]
    assert [r["labels"] for r in rows] == [10, 10, 30, 30, 30]
    assert rows[3]["value"] == pytest.approx(0.55)


@pytest.mark.parametrize("colour", ["BALD", "predicted class"])
def test_embedding_chart_names_every_galaxy_and_is_plain_json(colour: str) -> None:
    data = report_data()
    spec = charts.embedding_chart(data, colour=colour)
    rows = spec["data"]["values"]
    assert [r["galaxy"] for r in rows] == [f"g{k}" for k in range(40)]
    np.testing.assert_allclose([r["BALD"] for r in rows], data.embedding_bald, atol=1e-4)
    assert spec["encoding"]["color"]["field"] == colour
    assert json.loads(json.dumps(spec, allow_nan=False)) == spec  # no NaN reaches the browser
