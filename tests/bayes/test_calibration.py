"""Post-hoc recalibration: temperature and spread recover known miscalibration."""

import numpy as np
import pytest

from bayes.calibration import (
    Calibration,
    fit_calibration,
    fit_spread,
    fit_temperature,
    mixture_cdf,
    temper,
)
from bayes.config import TaskConfig
from bayes.predict import Posterior

CLS = TaskConfig("morphology", "categorical", classes=("a", "b", "c", "d"))
REG = TaskConfig("redshift", "gaussian", transform="log1p")


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _overconfident(n: int, rng: np.random.Generator, true_tau: float = 2.0):
    """(N, T, C) probs from logits z while labels follow softmax(z / true_tau)."""
    logits = rng.normal(0, 3, (n, 1, 4)) + rng.normal(0, 0.1, (n, 8, 4))
    p_true = _softmax(logits.mean(1) / true_tau)
    y = np.array([rng.choice(4, p=p) for p in p_true])
    return _softmax(logits), y


def test_temperature_recovers_the_true_temperature():
    rng = np.random.default_rng(0)
    probs, y = _overconfident(4000, rng)
    tau = fit_temperature(probs, y)
    assert tau == pytest.approx(2.0, abs=0.2)  # true temperature 2; 4000 labels
    assert fit_temperature(temper(probs, tau), y) == pytest.approx(1.0, abs=0.02)


def test_temper_keeps_the_ranking_of_classes_per_sample():
    rng = np.random.default_rng(1)
    probs, _ = _overconfident(50, rng)
    hot = temper(probs, 3.0)
    np.testing.assert_array_equal(hot.argmax(-1), probs.argmax(-1))
    np.testing.assert_allclose(hot.sum(-1), 1.0, rtol=1e-6)
    assert hot.max(-1).mean() < probs.max(-1).mean()
    with pytest.raises(ValueError, match="temperature"):
        temper(probs, 0.0)


def _regression(n: int, rng: np.random.Generator, *, claimed: float, actual: float):
    """T=16 head draws around a mean in log(1+z); truths scattered by ``actual``."""
    m = rng.uniform(0.05, 0.3, n)
    loc = m[:, None] + rng.normal(0, 0.1 * claimed, (n, 16))
    scale = np.full((n, 16), claimed)
    u_true = m + rng.normal(0, actual * np.sqrt(1.01), n)
    draws = np.expm1(loc + scale * rng.standard_normal((n, 16)))
    return draws, loc, scale, np.expm1(u_true)


def test_spread_widens_an_overconfident_regression_to_nominal_coverage():
    rng = np.random.default_rng(2)
    draws, loc, scale, y = _regression(3000, rng, claimed=0.01, actual=0.02)
    s = fit_spread(REG, loc, scale, y)
    assert s == pytest.approx(2.0, abs=0.2)  # true noise is twice the claimed scale
    posterior = Posterior(
        probs={}, draws={"redshift": draws}, loc={"redshift": loc}, scale={"redshift": scale},
        embedding=np.zeros((len(y), 1)),
    )  # fmt: skip
    fixed = Calibration(temperature={}, spread={"redshift": s}).apply(posterior, (REG,))
    before = np.mean(np.abs(mixture_cdf(REG, loc, scale, y) - 0.5) <= 0.34)
    pit = mixture_cdf(REG, fixed.loc["redshift"], fixed.scale["redshift"], y)
    after = np.mean(np.abs(pit - 0.5) <= 0.34)
    assert before < 0.5 and 0.65 < after < 0.71
    # the draws are widened too: their spread about the mean grows by s
    wide = np.log1p(fixed.draws["redshift"]).std(1) / np.log1p(draws).std(1)
    np.testing.assert_allclose(wide, s, rtol=1e-4)
    np.testing.assert_allclose(fixed.loc["redshift"].mean(1), loc.mean(1), rtol=1e-5)


def test_fit_calibration_skips_unknown_targets_and_round_trips():
    rng = np.random.default_rng(3)
    probs, y = _overconfident(500, rng)
    y[:100] = -1
    draws, loc, scale, z = _regression(500, rng, claimed=0.02, actual=0.02)
    posterior = Posterior(
        probs={"morphology": probs}, draws={"redshift": draws}, loc={"redshift": loc},
        scale={"redshift": scale}, embedding=np.zeros((500, 1)),
    )  # fmt: skip
    cal = fit_calibration(posterior, {"morphology": y, "redshift": z}, (CLS, REG))
    assert set(cal.temperature) == {"morphology"} and set(cal.spread) == {"redshift"}
    assert 0.8 < cal.spread["redshift"] < 1.2
    assert Calibration.from_dict(cal.to_dict()) == cal
    none = fit_calibration(posterior, {"morphology": np.full(500, -1)}, (CLS, REG))
    assert none.temperature == {} and none.spread == {}


def test_mixture_cdf_of_a_calibrated_model_gives_nominal_coverage_where_draws_fall_short():
    rng = np.random.default_rng(4)
    draws, loc, scale, y = _regression(4000, rng, claimed=0.02, actual=0.02)
    draws, loc, scale = draws[:, :8], loc[:, :8], scale[:, :8]  # few samples: biased quantiles
    pit = mixture_cdf(REG, loc, scale, y)
    assert 0.93 < np.mean(np.abs(pit - 0.5) <= 0.475) < 0.97
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=1)
    assert np.mean((y >= lo) & (y <= hi)) < 0.9
