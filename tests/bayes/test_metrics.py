"""Metrics against hand computations (tolerance 1e-6: the arithmetic is exact in float64)."""

import math

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.metrics import average_precision_score, f1_score, recall_score

from bayes.checks import metrics


def test_redshift_metrics_by_hand():
    z_true = np.array([0.0, 1.0, 0.5, 0.2])
    z_pred = np.array([0.1, 1.2, 0.5, 0.6])
    # delta = [0.1, 0.1, 0.0, 0.4/1.2]; median = 0.1; |d - 0.1| = [0, 0, 0.1, 0.2333]
    out = metrics.redshift_metrics(z_pred, z_true)
    assert out["bias"] == pytest.approx(0.1, abs=1e-6)
    assert out["sigma_nmad"] == pytest.approx(1.4826 * 0.05, abs=1e-6)
    assert out["outlier_fraction"] == pytest.approx(0.25, abs=1e-6)


def test_accuracy_and_macro_f1_by_hand():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp0 -> 0
    assert metrics.accuracy(y_pred, y_true) == pytest.approx(0.6, abs=1e-6)
    assert metrics.macro_f1(y_pred, y_true) == pytest.approx(1.3 / 3, abs=1e-6)
    assert metrics.macro_f1(y_pred, y_true) == pytest.approx(
        f1_score(y_true, y_pred, average="macro"), abs=1e-6
    )


def test_class_recall_by_hand_and_none_for_an_absent_class():
    y_true = np.array([0, 0, 1, 1, 1, 3])
    y_pred = np.array([0, 2, 1, 0, 1, 3])
    # class 0: 1 of 2; class 1: 2 of 3; class 2: no true member; class 3: 1 of 1
    assert metrics.class_recall(y_pred, y_true, 4) == [0.5, pytest.approx(2 / 3), None, 1.0]
    found = recall_score(y_true, y_pred, labels=[0, 1, 3], average=None)
    assert [r for r in metrics.class_recall(y_pred, y_true, 4) if r is not None] == list(found)


def test_class_average_precision_by_hand_with_ties_and_an_absent_class():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0], [0.6, 0.4, 0.0]])
    y = np.array([0, 1, 1, 0])
    # class 0 ranks 0.9 (hit), then 0.6 twice together (one hit): AP = 1/2 * 1 + 1/2 * 2/3
    # class 1 ranks 0.8 (hit), then 0.4 twice (one hit), then 0.1: AP = 1/2 + 1/2 * 2/3
    ap = metrics.class_average_precision(probs, y)
    assert ap[0] == pytest.approx(0.5 + 1 / 3)
    assert ap[1] == pytest.approx(0.5 + 1 / 3)
    assert ap[2] is None


def test_class_average_precision_is_scikit_learns():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=300).round(2)  # rounding makes ties
    y = rng.integers(0, 4, size=300)
    for c, ap in enumerate(metrics.class_average_precision(probs, y)):
        assert ap == pytest.approx(average_precision_score(y == c, probs[:, c]), abs=1e-12)


def test_ece_by_hand():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.55, 0.45]])
    y = np.array([0, 1, 1, 0])
    # bins of width 1/15: 0.9 -> bin 13 (acc 0.5, conf 0.9); 0.7 -> bin 10 (acc 1, conf 0.7);
    # 0.55 -> bin 8 (acc 1, conf 0.55). ECE = (2*0.4 + 0.3 + 0.45) / 4
    assert metrics.expected_calibration_error(probs, y) == pytest.approx(1.55 / 4, abs=1e-6)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert metrics.expected_calibration_error(perfect, np.array([0, 1])) == pytest.approx(0.0)


def test_coverage_and_pit_by_hand():
    draws = np.tile(np.arange(101.0), (3, 1))  # quantiles of 0..100 are 100 q exactly
    y = np.array([50.0, 20.0, 97.0])
    # 68% interval [16, 84] holds 50 and 20, not 97; 95% interval [2.5, 97.5] holds all three
    assert metrics.interval_coverage(draws, y, level=0.68) == pytest.approx(2 / 3, abs=1e-6)
    assert metrics.interval_coverage(draws, y, level=0.95) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(metrics.pit(draws, y), [51 / 101, 21 / 101, 98 / 101], atol=1e-6)
    density, edges = metrics.pit_histogram(np.array([0.05, 0.15, 0.15, 0.95]), bins=10)
    np.testing.assert_allclose(density, [2.5, 5, 0, 0, 0, 0, 0, 0, 0, 2.5], atol=1e-6)
    assert len(edges) == 11


def test_rmse_r2_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.0, 2.0, 3.0, 6.0])
    assert metrics.rmse(p, y) == pytest.approx(1.0, abs=1e-6)  # sqrt(4 / 4)
    assert metrics.r2(p, y) == pytest.approx(1 - 4 / 5, abs=1e-6)  # SS_tot = 5


def test_coverage_curve_counts_central_intervals_by_hand():
    pit = np.array([0.5, 0.3, 0.1, 0.99])  # |PIT - 1/2| = 0, 0.2, 0.4, 0.49
    levels = (0.05, 0.4, 0.68, 0.8, 0.95)  # half-widths 0.025, 0.2, 0.34, 0.4, 0.475
    np.testing.assert_allclose(
        metrics.coverage_curve(pit, levels), [0.25, 0.5, 0.5, 0.75, 0.75], atol=1e-12
    )
    assert metrics.NOMINAL_LEVELS[:3] == (0.05, 0.1, 0.15) and metrics.NOMINAL_LEVELS[-1] == 0.95
    assert 0.68 in metrics.NOMINAL_LEVELS and len(metrics.NOMINAL_LEVELS) == 20
    with pytest.raises(ValueError, match="levels"):
        metrics.coverage_curve(pit, (0.5, 1.0))


def test_coverage_curve_of_calibrated_pits_follows_the_diagonal():
    # PITs of a calibrated model are uniform: at N = 20000 each coverage has standard error
    # <= sqrt(0.25 / 20000) = 0.0035, so 0.02 is more than 5 standard errors.
    pit = np.random.default_rng(3).uniform(size=20000)
    levels = np.array(metrics.NOMINAL_LEVELS)
    np.testing.assert_allclose(metrics.coverage_curve(pit), levels, atol=0.02)


def test_squared_density_integral_of_one_normal_by_hand():
    # ∫ N(y; μ, σ²)² dy = 1 / (2σ√π). In z with u = log(1 + z) ~ N(μ, σ²):
    # ∫ p_z² dz = ∫ N(u)² e^{-u} du = 1 / (2σ√π) · E[e^{-u}] under N(μ, σ²/2)
    #           = exp(-μ + σ²/4) / (2σ√π).
    loc, scale = np.array([[0.4], [-1.0]]), np.array([[0.1], [2.0]])
    expected = 1 / (2 * scale[:, 0] * math.sqrt(math.pi))
    np.testing.assert_allclose(metrics.squared_density_integral(loc, scale), expected, rtol=1e-12)
    in_z = expected * np.exp(-loc[:, 0] + scale[:, 0] ** 2 / 4)
    got = metrics.squared_density_integral(loc, scale, log1p=True)
    np.testing.assert_allclose(got, in_z, rtol=1e-12)
    # the same by adaptive quadrature in z (quad's own tolerance is ~1e-10)
    p_z = lambda z: (stats.norm.pdf(np.log1p(z), 0.4, 0.1) / (1 + z)) ** 2  # noqa: E731
    assert got[0] == pytest.approx(integrate.quad(p_z, -0.99, 20, limit=200)[0], rel=1e-8)


def test_squared_density_integral_of_a_two_normal_mixture_by_hand():
    # p = (N_1 + N_2) / 2: ∫ p² = (1/4)(1/(2σ_1√π) + 1/(2σ_2√π) + 2 N(μ_1 - μ_2; 0, σ_1² + σ_2²))
    loc, scale = np.array([[0.0, 1.0]]), np.array([[0.5, 0.3]])
    cross = stats.norm.pdf(1.0, 0.0, math.sqrt(0.25 + 0.09))
    expected = 0.25 * (1 / (2 * 0.5 * math.sqrt(math.pi)) + 1 / (0.6 * math.sqrt(math.pi)))
    expected += 0.5 * cross
    assert metrics.squared_density_integral(loc, scale)[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("log1p", [False, True])
def test_the_grid_agrees_with_the_closed_form_on_normal_mixtures(log1p):
    # Components of width 0.02-0.06 on a grid step of ~0.005 (>= 4 points per σ): the
    # trapezoid rule on a Gaussian with step h errs by ~exp(-2π²σ²/h²), far below rounding,
    # so 1e-9 leaves room for rounding only. max_elements=100 / 5000 force several chunks
    # (one galaxy each for the grid).
    rng = np.random.default_rng(0)
    loc, scale = rng.normal(0.5, 0.05, (40, 8)), rng.uniform(0.02, 0.06, (40, 8))
    exact = metrics.squared_density_integral(loc, scale, log1p=log1p, max_elements=100)
    grid = metrics.squared_density_integral(
        loc, scale, log1p=log1p, method="grid", max_elements=5000
    )
    np.testing.assert_allclose(grid, exact, rtol=1e-9)
    one_chunk = metrics.squared_density_integral(loc, scale, log1p=log1p)
    np.testing.assert_allclose(one_chunk, exact, rtol=1e-12)


def test_squared_density_integral_of_a_student_t_by_hand():
    # f(x) = c (1 + x²/df)^{-(df+1)/2}, c = Γ((df+1)/2) / (√(dfπ) Γ(df/2));
    # ∫ f² = c² √df B(1/2, df + 1/2) = c² √(dfπ) Γ(df + 1/2) / Γ(df + 1), divided by σ.
    # The grid's ±40σ window drops a tail of ~1e-15 of it.
    df, sigma = 5.0, 0.1
    c = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    expected = c**2 * math.sqrt(df * math.pi) * math.gamma(df + 0.5) / math.gamma(df + 1) / sigma
    got = metrics.squared_density_integral(np.array([[0.3]]), np.array([[sigma]]), df=df)
    assert got[0] == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="Student-t"):
        metrics.squared_density_integral(
            np.array([[0.3]]), np.array([[0.1]]), df=df, method="exact"
        )


def test_mixture_density_is_in_natural_units():
    # p_z(z) = N(log(1 + z); μ, σ²) / (1 + z); a Student-t of one component is scipy's.
    loc, scale, z = np.array([[0.4, 0.5]]), np.array([[0.1, 0.2]]), np.array([0.6])
    u = math.log1p(0.6)
    expected = (stats.norm.pdf(u, 0.4, 0.1) + stats.norm.pdf(u, 0.5, 0.2)) / 2 / 1.6
    got = metrics.mixture_density(loc, scale, z, log1p=True)
    assert got[0] == pytest.approx(expected, rel=1e-12)
    t = metrics.mixture_density(np.array([[1.0]]), np.array([[2.0]]), np.array([0.0]), df=4.0)
    assert t[0] == pytest.approx(stats.t.pdf(0.0, 4.0, loc=1.0, scale=2.0), rel=1e-12)
    with pytest.raises(ValueError, match="scale"):
        metrics.mixture_density(loc, -scale, z)


def test_cde_loss_by_hand_for_one_galaxy():
    # L = ∫ p² - 2 p(y): a Normal(0, 1) and y = 0 give 1/(2√π) - 2/√(2π).
    loss = metrics.cde_loss(np.array([[0.0]]), np.array([[1.0]]), np.array([0.0]))
    assert loss == pytest.approx(1 / (2 * math.sqrt(math.pi)) - 2 / math.sqrt(2 * math.pi))


@pytest.mark.parametrize("log1p", [False, True])
def test_cde_loss_rewards_the_true_density(log1p):
    # Truths drawn from each galaxy's own mixture: E[p(y)] = ∫ p², so L -> -mean ∫ p².
    # The check allows 4 standard errors of the mean of p(y) (seeded). The same truths under
    # mixtures twice too wide or too narrow must score worse (a proper score; the gaps are
    # ~20% and ~40% of |L|, far beyond the noise).
    rng = np.random.default_rng(7)
    n, t = 20000, 4
    loc, scale = rng.normal(0.5, 0.1, (n, t)), rng.uniform(0.03, 0.08, (n, t))
    pick = rng.integers(0, t, n)
    u = rng.normal(loc[np.arange(n), pick], scale[np.arange(n), pick])
    y = np.expm1(u) if log1p else u
    sq = metrics.squared_density_integral(loc, scale, log1p=log1p)
    p = metrics.mixture_density(loc, scale, y, log1p=log1p)
    loss = metrics.cde_loss(loc, scale, y, log1p=log1p)
    assert loss == pytest.approx(sq.mean() - 2 * p.mean(), rel=1e-12)
    assert abs(loss + sq.mean()) < 4 * 2 * p.std() / math.sqrt(n)
    m = loc.mean(1, keepdims=True)
    for s in (0.5, 2.0):
        wrong = metrics.cde_loss(m + s * (loc - m), s * scale, y, log1p=log1p)
        assert wrong > loss + 0.1 * abs(loss)
