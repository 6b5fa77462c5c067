"""bayes.followup: exposure times, expected information gain and the budgeted greedy fill."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bayes.followup import (
    SNModel,
    expected_gain,
    fill,
    gain_per_hour,
    greedy_fill,
    neighbour_variance,
    posterior_variance,
)


def test_exposure_matches_the_reference_point_exactly() -> None:
    model = SNModel(snr_target=11.8, aperture_offset=0.0)
    assert model.exposure_s(np.array([19.0]))[0] == pytest.approx(2700.0, rel=1e-12)
    other = SNModel(
        snr_target=5.0, snr_ref=5.0, t_ref=900.0, mag_ref=20.5, sky_mag=19.0, read_noise=3.0,
        aperture_offset=0.0,
    )  # fmt: skip
    assert other.exposure_s(np.array([20.5]))[0] == pytest.approx(900.0, rel=1e-12)
    # With the default aperture offset, the total magnitude 19 - offset is the fiber's 19.
    default = SNModel(snr_target=11.8)
    assert default.exposure_s(np.array([19.0 - default.aperture_offset]))[0] == pytest.approx(
        2700.0, rel=1e-12
    )


def test_exposure_reaches_the_target_snr_and_is_monotone_in_magnitude() -> None:
    model = SNModel()
    mags = np.linspace(12.0, 22.0, 201)
    t = model.exposure_s(mags)
    finite = np.isfinite(t)
    assert finite[0] and not finite[-1]
    assert np.all(np.diff(t[finite]) > 0)  # fainter always costs more
    assert np.all(~finite[np.argmax(~finite) :])  # once excluded, every fainter one is too
    np.testing.assert_allclose(model.snr(mags[finite], t[finite]), model.snr_target, rtol=1e-10)
    assert np.all(t[finite] <= model.max_exposure_s)


def test_exposure_scales_as_the_ccd_equation_says_in_its_two_limits() -> None:
    # Source-limited (no sky, no read noise): S/N² = s t, so t ∝ 1/flux: x2.512 per magnitude.
    bright = SNModel(sky_mag=60.0, read_noise=0.0, aperture_offset=0.0, max_exposure_s=1e12)
    t = bright.exposure_s(np.array([18.0, 19.0]))
    assert t[1] / t[0] == pytest.approx(10**0.4, rel=1e-9)
    # Sky-limited: S/N² ≈ s² t / b, so t ∝ 1/flux²: x6.31 per magnitude.
    sky = SNModel(sky_mag=5.0, read_noise=0.0, aperture_offset=0.0, max_exposure_s=1e30)
    t = sky.exposure_s(np.array([18.0, 19.0]))
    assert t[1] / t[0] == pytest.approx(10**0.8, rel=1e-4)


def test_too_faint_or_unknown_magnitudes_are_excluded_and_overhead_is_added() -> None:
    model = SNModel(max_exposure_s=1000.0, overhead_s=120.0)
    t = model.exposure_s(np.array([15.0, 19.5, np.nan, np.inf]))
    assert np.isfinite(t[0]) and np.isinf(t[1:]).all()
    np.testing.assert_allclose(model.cost_s(np.array([15.0]))[0], t[0] + 120.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("snr_target", 0.0), ("t_ref", -1.0), ("overhead_s", -5.0), ("mag_ref", np.nan)],
)
def test_bad_sn_model_settings_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        SNModel(**{field: value})


def test_expected_gain_by_hand() -> None:
    gain = expected_gain(np.array([4.0, 1.0, 1.0, 0.01]), np.array([1.0, 1.0, 2.0, 0.0001]))
    np.testing.assert_allclose(gain, [np.log(2.0), 0.0, 0.0, np.log(10.0)])
    with pytest.raises(ValueError, match="var_with"):
        expected_gain(np.array([1.0]), np.array([0.0]))
    with pytest.raises(ValueError, match="shape"):
        expected_gain(np.ones(2), np.ones(3))


def test_posterior_variance_is_the_mixture_variance() -> None:
    loc = np.array([[0.0, 2.0], [1.0, 1.0]])  # (N, T)
    scale = np.array([[1.0, 1.0], [3.0, 1.0]])
    np.testing.assert_allclose(posterior_variance(loc, scale), [1.0 + 1.0, 0.0 + 5.0])
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        posterior_variance(np.ones(3), np.ones(3))


def test_neighbour_variance_takes_the_geometric_mean_of_the_nearest_references() -> None:
    rng = np.random.default_rng(0)
    ref_emb = np.concatenate([rng.normal(-3, 0.1, (20, 4)), rng.normal(3, 0.1, (20, 4))])
    ref_mag = np.full(40, 17.0)  # one magnitude: only the embedding tells galaxies apart
    ref_var = np.concatenate([np.full(20, 1e-4), np.full(20, 1e-2)])
    ref_var[0] = 4e-4
    query = np.stack([ref_emb[0] + 1e-3, np.full(4, 3.0)])
    out = neighbour_variance(query, np.full(2, 17.0), ref_emb, ref_mag, ref_var, k=20)
    np.testing.assert_allclose(out[1], 1e-2)
    assert out[0] == pytest.approx(np.exp((np.log(4e-4) + 19 * np.log(1e-4)) / 20))
    # Identical embeddings: the magnitude alone decides.
    emb = np.zeros((4, 3))
    by_mag = neighbour_variance(
        np.zeros((1, 3)), np.array([15.1]), emb, np.array([15.0, 15.2, 18.0, 18.1]),
        np.array([1.0, 1.0, 9.0, 9.0]), k=2,
    )  # fmt: skip
    np.testing.assert_allclose(by_mag, [1.0])
    with pytest.raises(ValueError, match="k must be"):
        neighbour_variance(query, np.zeros(2), ref_emb, ref_mag, ref_var, k=41)
    with pytest.raises(ValueError, match="magnitude"):
        neighbour_variance(query, np.array([np.nan, 1.0]), ref_emb, ref_mag, ref_var)


def test_greedy_fill_never_exceeds_the_budget_and_skips_excluded_galaxies() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        gain = rng.exponential(1.0, n)
        cost = rng.uniform(100.0, 4000.0, n)
        cost[rng.random(n) < 0.2] = np.inf
        hours = float(rng.uniform(0.0, 10.0))
        fibers = int(rng.integers(0, 15))
        chosen = greedy_fill(gain, cost, budget_hours=hours, budget_fibers=fibers)
        assert cost[chosen].sum() <= hours * 3600.0 + 1e-6
        assert len(chosen) <= fibers and len(set(chosen.tolist())) == len(chosen)
        assert np.isfinite(cost[chosen]).all()
        rate = gain_per_hour(gain, cost)[chosen]
        assert np.all(np.diff(rate) <= 0)  # observing order is by gain per hour


def test_greedy_fill_skips_what_does_not_fit_and_what_teaches_nothing() -> None:
    gain = np.array([10.0, 1.0, 0.5, 0.0, np.nan])
    cost = np.array([3600.0, 7200.0, 1800.0, 10.0, 10.0])
    # Rates: 10, 0.5, 1.0 per hour; the 2 h target does not fit after the first, the 0.5 h does.
    np.testing.assert_array_equal(greedy_fill(gain, cost, budget_hours=2.0), [0, 2])
    np.testing.assert_array_equal(greedy_fill(gain, cost, budget_fibers=1), [0])
    np.testing.assert_array_equal(greedy_fill(gain, cost), [0, 2, 1])
    with pytest.raises(ValueError, match="budget_hours"):
        greedy_fill(gain, cost, budget_hours=-1.0)
    with pytest.raises(ValueError, match="budget_fibers"):
        fill(np.arange(3), cost, budget_fibers=-1)


def _best_subset(gain: np.ndarray, cost: np.ndarray, seconds: float) -> float:
    """Brute-force knapsack optimum of the total gain within ``seconds``."""
    best = 0.0
    for r in range(len(gain) + 1):
        for subset in itertools.combinations(range(len(gain)), r):
            s = list(subset)
            if cost[s].sum() <= seconds:
                best = max(best, float(gain[s].sum()))
    return best


def test_greedy_fill_against_the_brute_force_optimum_on_tiny_cases() -> None:
    rng = np.random.default_rng(2)
    for _ in range(30):
        n = 8
        gain = rng.exponential(1.0, n)
        hours = float(rng.uniform(0.5, 4.0))
        # Equal costs: taking the highest gains is optimal, and greedy must find that optimum.
        equal = np.full(n, 1800.0)
        chosen = greedy_fill(gain, equal, budget_hours=hours)
        assert gain[chosen].sum() == pytest.approx(_best_subset(gain, equal, hours * 3600.0))
        # Any costs: greedy by ratio is within the largest single gain of the optimum
        # (it is at least the LP relaxation minus the item split by the budget).
        cost = rng.uniform(300.0, 5000.0, n)
        chosen = greedy_fill(gain, cost, budget_hours=hours)
        best = _best_subset(gain, cost, hours * 3600.0)
        assert best - gain.max() - 1e-9 <= gain[chosen].sum() <= best + 1e-9
