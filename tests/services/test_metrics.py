"""Held-out metrics of a posterior: the regression calibration entries are JSON-ready and
follow the definitions of bayes.checks.metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.services.models.metrics import calibration_metrics, central_coverage, posterior_metrics
from bayes.checks import metrics as bm
from tests.services.calibrated import REDSHIFT, SFR, TASKS, calibrated


def test_regressions_report_coverage_at_every_level_the_pit_and_the_cde_loss() -> None:
    posterior, truths = calibrated(400, seed=1)
    truths["sfr"][:50] = np.nan  # unknown targets are left out
    present = np.ones((400, 3), bool)
    out = posterior_metrics(posterior, truths, TASKS, present)
    assert json.loads(json.dumps(out, allow_nan=False)) == out  # strict JSON, round-trips
    for task in (REDSHIFT, SFR):
        m = out[task.name]
        assert m["coverage_levels"] == list(bm.NOMINAL_LEVELS)
        assert len(m["coverage"]) == len(bm.NOMINAL_LEVELS) and len(m["pit_histogram"]) == 10
        ok = np.isfinite(truths[task.name])
        assert m["n"] == ok.sum()
        levels = m["coverage_levels"]
        assert m["coverage"][levels.index(0.68)] == m["coverage_68"]
        assert m["coverage"][levels.index(0.95)] == m["coverage_95"]
        expected = bm.cde_loss(
            posterior.loc[task.name][ok],
            posterior.scale[task.name][ok],
            truths[task.name][ok],
            log1p=task.transform == "log1p",
        )
        assert m["cde_loss"] == pytest.approx(expected, rel=1e-12)
    assert "coverage" not in out["morphology"]


def test_calibrated_posteriors_cover_at_the_nominal_levels_and_score_best() -> None:
    # Truths drawn from the predictive: coverage at level c is Binomial(n, c) / n, standard
    # error <= sqrt(0.25 / 4000) = 0.008; 0.035 is over 4 standard errors (seeded).
    n = 4000
    posterior, truths = calibrated(n, seed=2)
    ok = np.ones(n, bool)
    good = calibration_metrics(REDSHIFT, posterior, truths["redshift"], ok)
    np.testing.assert_allclose(good["coverage"], good["coverage_levels"], atol=0.035)
    # Over- and under-confident copies of the same posterior (truths fixed) miss the diagonal
    # the expected way and have a larger (worse) CDE loss.
    narrow, _ = calibrated(n, spread=0.6, seed=2)
    wide, _ = calibrated(n, spread=1.6, seed=2)
    low = calibration_metrics(REDSHIFT, narrow, truths["redshift"], ok)
    high = calibration_metrics(REDSHIFT, wide, truths["redshift"], ok)
    assert low["coverage_68"] < 0.6 and high["coverage_68"] > 0.76
    assert low["cde_loss"] > good["cde_loss"] and high["cde_loss"] > good["cde_loss"]


def test_central_coverage_keeps_its_scalar_form() -> None:
    pit = np.array([0.5, 0.3, 0.1, 0.99])
    assert central_coverage(pit, 0.4) == 0.5
    assert isinstance(central_coverage(pit, 0.95), float)
