"""bayes.checks.health: the checks that decide whether a fit may be used."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bayes.checks import health
from bayes.config import TaskConfig

REDSHIFT = TaskConfig("redshift", "student_t", transform="log1p")
MORPHOLOGY = TaskConfig("morphology", "categorical", classes=("a", "b"))


def test_headline_metrics_follow_the_task() -> None:
    assert health.headline_metric(MORPHOLOGY).name == "accuracy"
    assert health.headline_metric(MORPHOLOGY).higher_is_better
    assert health.headline_metric(REDSHIFT).name == "sigma_nmad"
    assert health.headline_metric(TaskConfig("sfr", "gaussian")).name == "rmse"


def test_a_predictor_twice_as_noisy_is_worse_beyond_noise_and_an_equal_one_is_not() -> None:
    rng = np.random.default_rng(0)
    z = rng.uniform(0.02, 0.3, 400)
    good = z + 0.01 * (1 + z) * rng.normal(size=400)
    bad = z + 0.02 * (1 + z) * rng.normal(size=400)
    twin = z + 0.01 * (1 + z) * rng.normal(size=400)
    metric = health.headline_metric(REDSHIFT)
    worse = health.compare(metric, bad, good, z, rng=np.random.default_rng(1))
    assert worse.decided and worse.worse and worse.low > 0 and worse.a > worse.b
    # the mirror image: the good one is better, so not worse
    assert not health.compare(metric, good, bad, z, rng=np.random.default_rng(1)).worse
    # two draws of the same quality: the interval straddles zero
    tie = health.compare(metric, twin, good, z, rng=np.random.default_rng(1))
    assert not tie.worse and tie.low < 0 < tie.high


def test_accuracy_is_compared_in_its_own_direction() -> None:
    y = np.arange(200) % 2
    right = y.copy()
    wrong = np.where(np.arange(200) < 80, 1 - y, y)  # 40% wrong
    c = health.compare(health.headline_metric(MORPHOLOGY), wrong, right, y,
                       rng=np.random.default_rng(0))  # fmt: skip
    assert c.worse and math.isclose(c.a, 0.6) and c.b == 1.0


def test_too_few_galaxies_decide_nothing() -> None:
    y = np.linspace(0.05, 0.2, health.MIN_DECIDE - 1)
    c = health.compare(health.headline_metric(REDSHIFT), y + 0.1, y, y,
                       rng=np.random.default_rng(0))  # fmt: skip
    assert not c.decided and not c.worse
    check = health.baseline_check("redshift", "random forest", c)
    assert check.ok and "too few to compare" in check.detail


def test_loss_checks() -> None:
    assert health.loss_check([3.0, 2.0, 1.0]).ok
    assert not health.loss_check([1.0, 2.0]).ok
    nan = health.loss_check([3.0, float("nan")])
    assert not nan.ok and "not finite" in nan.detail


def test_calibration_factors_beyond_the_limit_fail() -> None:
    assert health.calibration_check("z", "spread", 1.5).ok
    assert health.calibration_check("z", "spread", 1 / health.CALIBRATION_LIMIT).ok
    assert not health.calibration_check("z", "spread", 7.0).ok
    assert not health.calibration_check("m", "temperature", 0.05).ok


CASES = [(1000, 0.70, True), (1000, 0.75, False), (30, 0.80, True), (30, 0.95, False)]
CASES += [(20000, 0.70, True), (20000, 0.72, False)]


@pytest.mark.parametrize(("n", "got", "ok"), CASES)
def test_coverage_is_judged_against_its_binomial_error(n: int, got: float, ok: bool) -> None:
    # 3 sigma at n = 1000 is 0.044 (0.70 in, 0.75 out); at n = 30 it is 0.255 (0.95 out);
    # at n = 20000 it is 0.0099, below the 0.03 floor (0.70 in, 0.72 out)
    assert health.coverage_check("z", {0.68: got}, n).ok is ok


def test_health_round_trips_and_says_what_failed() -> None:
    h = health.Health((health.loss_check([2.0, 1.0]), health.calibration_check("z", "spread", 9)))
    assert not h.ok and [c.name for c in h.failures()] == ["calibration"]
    assert "spread 9" in h.summary()
    again = health.Health.from_dict(h.to_dict())
    assert again == h and again.to_dict()["ok"] is False
