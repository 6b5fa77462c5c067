"""Acquisition functions: hand computations, information-theoretic properties, batch diversity.

Hand computations are float64 arithmetic on a few numbers, so they hold to 1e-6 (the rounding is
~1e-15); properties that are exact identities hold to 1e-12. Monte-Carlo comparisons state their
standard error where they use it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bayes import acquisition as acq
from bayes.acquisition.batch_bald import extend_samples, joint_entropy
from bench.acquisition_duplicates import cluster_pool, duplicates

LOG2 = math.log(2)


def h(*p: float) -> float:
    """Entropy of a hand-written distribution, -sum p log p, in nats."""
    return -sum(x * math.log(x) for x in p if x > 0)


def dirichlet_probs(rng: np.random.Generator, n: int, t: int, c: int) -> np.ndarray:
    """Random (n, t, c) class probabilities, peaked enough that BALD varies across galaxies."""
    return rng.dirichlet(np.full(c, 0.5), size=(n, t))


# --- 1. every score against a hand computation -------------------------------------------------

TWO_CLASS = np.array(
    [
        [[0.9, 0.1], [0.1, 0.9]],  # samples disagree: mean (0.5, 0.5)
        [[0.7, 0.3], [0.5, 0.5]],  # mean (0.6, 0.4)
    ]
)
THREE_CLASS = np.array([[[0.6, 0.3, 0.1], [0.4, 0.3, 0.3]]])  # mean (0.5, 0.3, 0.2)


def test_classification_scores_by_hand():
    entropy = [LOG2, h(0.6, 0.4)]
    aleatoric = [h(0.9, 0.1), (h(0.7, 0.3) + LOG2) / 2]
    np.testing.assert_allclose(acq.predictive_entropy(TWO_CLASS), entropy, atol=1e-6)
    np.testing.assert_allclose(
        acq.bald(TWO_CLASS), [entropy[0] - aleatoric[0], entropy[1] - aleatoric[1]], atol=1e-6
    )
    # 0.693147 - 0.325083 = 0.368064 and 0.673012 - (0.610864 + 0.693147) / 2 = 0.021006
    np.testing.assert_allclose(acq.bald(TWO_CLASS), [0.368064, 0.021006], atol=1e-6)
    np.testing.assert_allclose(acq.variation_ratios(TWO_CLASS), [0.5, 0.4], atol=1e-6)
    np.testing.assert_allclose(acq.margin(TWO_CLASS), [1.0, 0.8], atol=1e-6)
    assert acq.predictive_entropy(THREE_CLASS)[0] == pytest.approx(h(0.5, 0.3, 0.2), abs=1e-6)
    assert acq.variation_ratios(THREE_CLASS)[0] == pytest.approx(0.5, abs=1e-6)
    assert acq.margin(THREE_CLASS)[0] == pytest.approx(1 - (0.5 - 0.3), abs=1e-6)


def test_regression_scores_by_hand():
    draws = np.array([[1.0, 3.0, 1.0, 3.0], [1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_allclose(acq.predictive_std(draws), [1.0, math.sqrt(1.25)], atol=1e-6)
    loc = np.array([[0.0, 2.0], [1.0, 1.0], [0.0, 2.0]])
    scale = np.array([[1.0, 1.0], [1.0, 3.0], [1.0, 3.0]])
    # var_t(loc) = 1, 0, 1; mean_t scale^2 = 1, 5, 5
    expected = [0.5 * math.log(2 / 1), 0.0, 0.5 * math.log(6 / 5)]
    np.testing.assert_allclose(acq.regression_information_gain(loc, scale), expected, atol=1e-6)
    # the regression "entropy" is the moment-matched Gaussian's: 0.5 log(2 pi e (1 + 1))
    regression_entropy = acq.scores_for("entropy", loc=loc[:1], scale=scale[:1])[0]
    assert regression_entropy == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 2), abs=1e-6)


def test_epig_by_hand():
    pool = np.array(
        [
            [[1.0, 0.0], [0.0, 1.0]],  # the label is the posterior sample's identity
            [[0.5, 0.5], [0.5, 0.5]],  # samples agree: nothing to learn
            [[0.9, 0.1], [0.3, 0.7]],
        ]
    )
    target = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.8, 0.2], [0.2, 0.8]]])
    # pool 0 with target 1: joint [[.4, .1], [.1, .4]], marginals (.5, .5)
    i01 = 2 * 0.4 * math.log(0.4 / 0.25) + 2 * 0.1 * math.log(0.1 / 0.25)
    # pool 2 with target 0: joint [[.45, .15], [.05, .35]], marginals (.6, .4) x (.5, .5)
    i20 = (
        0.45 * math.log(0.45 / 0.30)
        + 0.15 * math.log(0.15 / 0.30)
        + 0.05 * math.log(0.05 / 0.20)
        + 0.35 * math.log(0.35 / 0.20)
    )
    # pool 2 with target 1: joint [[.39, .21], [.11, .29]], marginals (.6, .4) x (.5, .5)
    i21 = (
        0.39 * math.log(0.39 / 0.30)
        + 0.21 * math.log(0.21 / 0.30)
        + 0.11 * math.log(0.11 / 0.20)
        + 0.29 * math.log(0.29 / 0.20)
    )
    expected = [(LOG2 + i01) / 2, 0.0, (i20 + i21) / 2]
    np.testing.assert_allclose(acq.epig(pool, target), expected, atol=1e-6)
    np.testing.assert_allclose(acq.epig(pool, target, chunk=1), expected, atol=1e-6)


def test_regression_epig_by_hand():
    loc_pool, scale_pool = np.array([[0.0, 2.0]]), np.array([[1.0, 1.0]])  # var y = 1 + 1
    loc_target = np.array([[1.0, 3.0], [3.0, 1.0]])
    scale_target = np.array([[0.0, 0.0], [1.0, 1.0]])
    # target 0: var y* = 1, cov = 1, rho^2 = 1/2; target 1: var y* = 2, cov = -1, rho^2 = 1/4
    expected = (-0.5 * math.log(1 - 1 / 2) - 0.5 * math.log(1 - 1 / 4)) / 2
    value = acq.regression_epig(loc_pool, scale_pool, loc_target, scale_target)
    assert value[0] == pytest.approx(expected, abs=1e-6)


# --- 2. properties -----------------------------------------------------------------------------


def test_bald_and_entropy_properties():
    rng = np.random.default_rng(0)
    probs = dirichlet_probs(rng, 500, 16, 5)
    entropy, mutual = acq.predictive_entropy(probs), acq.bald(probs)
    assert (mutual >= 0).all()
    assert (mutual <= entropy + 1e-12).all()
    assert mutual.max() > 0.3  # not trivially zero
    assert (entropy <= math.log(5) + 1e-12).all()
    agreeing = np.repeat(probs[:, :1], 16, axis=1)  # every posterior sample the same
    np.testing.assert_allclose(acq.bald(agreeing), 0.0, atol=1e-12)
    uniform = np.full((1, 3, 5), 0.2)
    assert acq.predictive_entropy(uniform)[0] == pytest.approx(math.log(5), abs=1e-12)


def test_regression_information_gain_properties():
    rng = np.random.default_rng(1)
    loc, scale = rng.normal(size=(200, 16)), rng.uniform(0.1, 2.0, size=(200, 16))
    assert (acq.regression_information_gain(loc, scale) > 0).all()
    constant = np.repeat(loc[:, :1], 16, axis=1)
    np.testing.assert_allclose(acq.regression_information_gain(constant, scale), 0.0, atol=1e-12)


def test_epig_properties():
    rng = np.random.default_rng(2)
    pool, target = dirichlet_probs(rng, 300, 16, 4), dirichlet_probs(rng, 50, 16, 4)
    scores = acq.epig(pool, target, chunk=7)
    assert (scores >= 0).all()
    assert scores.min() > 0.01  # random samples disagree: every galaxy tells something
    # y and y* are independent given the model, so I(y; y*) <= I(y; w) (data processing)
    assert (scores <= acq.bald(pool) + 1e-12).all()
    np.testing.assert_allclose(scores, acq.epig(pool, target), atol=1e-12)  # chunking is exact
    agreeing = np.repeat(pool[:, :1], 16, axis=1)
    np.testing.assert_allclose(acq.epig(agreeing, target), 0.0, atol=1e-12)


def test_regression_epig_is_the_exact_mutual_information_of_a_gaussian_model():
    # loc = a w and loc* = b w with w ~ N(0, 1) (here T values standardised to mean 0, var 1):
    # (y, y*) is then exactly bivariate Gaussian with rho^2 = a^2 b^2 / ((a^2 + s^2)(b^2 + s*^2))
    rng = np.random.default_rng(3)
    w = rng.normal(size=64)
    w = (w - w.mean()) / w.std()
    a, s = np.array([0.5, 2.0, 0.0]), np.array([1.0, 0.3, 1.0])
    b, s_target = np.array([1.0, -3.0]), np.array([0.5, 2.0])
    rho2 = (a[:, None] * b) ** 2 / ((a[:, None] ** 2 + s[:, None] ** 2) * (b**2 + s_target**2))
    exact = (-0.5 * np.log(1 - rho2)).mean(1)
    value = acq.regression_epig(
        a[:, None] * w,
        np.repeat(s[:, None], 64, axis=1),
        b[:, None] * w,
        np.repeat(s_target[:, None], 64, axis=1),
    )
    np.testing.assert_allclose(value, exact, atol=1e-9)


def test_regression_epig_matches_monte_carlo_moments_of_the_mixture():
    # Draw (y, y*) from the T-component mixture itself (a posterior sample, then independent
    # noise) and moment-match the draws: the correlation's standard error is about
    # (1 - rho^2)/sqrt(n), so the MI's is about |rho|/sqrt(n) < 0.002; tolerance 0.01.
    rng = np.random.default_rng(4)
    t, n = 16, 400_000
    loc_pool, scale_pool = rng.normal(size=(1, t)), rng.uniform(0.2, 0.8, size=(1, t))
    loc_target = 2.0 * loc_pool + rng.normal(scale=0.3, size=(1, t))
    scale_target = rng.uniform(0.1, 1.5, size=(1, t))
    sample = rng.integers(t, size=n)
    y = loc_pool[0, sample] + scale_pool[0, sample] * rng.normal(size=n)
    y_target = loc_target[0, sample] + scale_target[0, sample] * rng.normal(size=n)
    rho = np.corrcoef(y, y_target)[0, 1]
    value = acq.regression_epig(loc_pool, scale_pool, loc_target, scale_target)[0]
    assert value == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.01)
    assert value > 0.2  # the check has teeth: a clearly non-zero gain


def test_regression_epig_bounded_by_information_gain():
    # the Gaussian forms satisfy the same data-processing bound: rho^2 <= var_t(loc) / var(y)
    rng = np.random.default_rng(5)
    loc, scale = rng.normal(size=(100, 16)), rng.uniform(0.1, 1.0, size=(100, 16))
    value = acq.regression_epig(loc, scale, loc[:20] + 0.1, scale[:20])
    assert (value >= 0).all()
    assert (value <= acq.regression_information_gain(loc, scale) + 1e-12).all()
    np.testing.assert_allclose(
        acq.regression_epig(np.repeat(loc[:, :1], 16, axis=1), scale, loc[:20], scale[:20]),
        0.0,
        atol=1e-12,
    )


# --- 3. BatchBALD -------------------------------------------------------------------------------


def split_samples(t: int, groups: np.ndarray, confidence: float) -> np.ndarray:
    """(T, 2) probabilities: sample t says class groups[t] with the given confidence."""
    p = np.where(groups[:, None] == np.arange(2), confidence, 1 - confidence)
    return p.reshape(t, 2)


def test_batch_bald_with_k1_picks_argmax_bald():
    probs = dirichlet_probs(np.random.default_rng(6), 300, 16, 4)
    picks = acq.batch_bald(probs, 1, rng=np.random.default_rng(0))
    assert picks.tolist() == [int(np.argmax(acq.bald(probs)))]


def test_batch_bald_skips_duplicates_that_top_k_bald_takes():
    t = 8
    s = np.arange(t)
    top = split_samples(t, s >= 4, 0.99)  # BALD = log 2 - h(0.99, 0.01) = 0.637
    probs = np.stack(
        [
            *(top, top, top),  # three exact copies of the most uncertain galaxy
            split_samples(t, s % 2 == 0, 0.95),  # independent partitions of the samples, BALD 0.49
            split_samples(t, s % 4 < 2, 0.94),
            split_samples(t, s >= 4, 0.7),  # the copies' question again, less sharply
        ]
    )
    assert acq.select("bald", 3, probs=probs, rng=np.random.default_rng(0)).tolist() == [0, 1, 2]
    picks = acq.batch_bald(probs, 3, rng=np.random.default_rng(0))
    assert picks.tolist() == [0, 3, 4]


def test_duplicates_of_a_decisive_galaxy_add_no_information():
    # one-hot samples: a second label of the same galaxy is the first one again
    t = 8
    one_hot = split_samples(t, np.arange(t) >= 4, 1.0)
    pair = (one_hot[:, :, None] * one_hot[:, None, :]).reshape(t, 4)
    joint = joint_entropy(np.ones((t, 1)), pair, 4)[0]  # H[y1, y2]; E_w H[y | w] = 0
    single = acq.bald(one_hot[None])[0]
    assert joint == pytest.approx(single, abs=1e-12)
    assert single == pytest.approx(LOG2, abs=1e-12)


def test_sampled_joint_entropy_agrees_with_exact():
    # The sampled estimator is an unbiased mean over configurations: over 20 seeds its mean must
    # be within 4 standard errors (spread across seeds / sqrt(20)) of the exact joint entropy.
    rng = np.random.default_rng(7)
    t, c = 16, 3
    probs = dirichlet_probs(rng, 8, t, c)
    batch, candidates = probs[:3], probs[3:]
    flat = candidates.transpose(1, 0, 2).reshape(t, -1)
    configs = np.ones((t, 1))
    for p in batch:
        configs = (configs[:, :, None] * p[:, None, :]).reshape(t, -1)  # all 27 configurations
    exact = joint_entropy(configs, flat, c)
    estimates = []
    for seed in range(20):
        sample_rng = np.random.default_rng(seed)
        owner = sample_rng.integers(t, size=2000)
        sampled, log_scale = np.ones((t, 2000)), np.zeros(2000)
        for p in batch:
            sampled, log_scale = extend_samples(sampled, log_scale, p, owner, sample_rng)
        estimates.append(joint_entropy(sampled, flat, c, log_scale))
    estimates = np.array(estimates)
    standard_error = estimates.std(0, ddof=1) / math.sqrt(len(estimates))
    assert (np.abs(estimates.mean(0) - exact) < 4 * standard_error + 1e-9).all()
    assert (estimates.std(0) < 0.05).all()  # and one estimate is already close


def test_batch_bald_sampled_regime_returns_distinct_valid_indices():
    probs = dirichlet_probs(np.random.default_rng(8), 40, 8, 3)
    picks = acq.batch_bald(probs, 40, num_samples=50, rng=np.random.default_rng(0))
    assert sorted(picks.tolist()) == list(range(40))


# --- 4. power sampling ---------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_power_sample_frequency_follows_scores_to_the_beta(beta):
    # chi-square goodness of fit, 3 degrees of freedom: 16.27 is the 0.1% critical value
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    expected = scores**beta / (scores**beta).sum()
    rng = np.random.default_rng(9)
    draws = 20_000
    counts = np.bincount(
        [acq.power_sample(scores, 1, beta=beta, rng=rng)[0] for _ in range(draws)], minlength=4
    )
    chi2 = ((counts - draws * expected) ** 2 / (draws * expected)).sum()
    assert chi2 < 16.27


def test_power_sample_large_beta_is_top_k_and_never_repeats():
    scores = np.array([1.0, 5.0, 2.0, 4.0, 3.0])
    # with beta = 200 a lower score wins over a higher one with probability <= (4/5)^200 ~ 4e-20
    for seed in range(100):
        picks = acq.power_sample(scores, 2, beta=200.0, rng=np.random.default_rng(seed))
        assert picks.tolist() == [1, 3]
    everything = acq.power_sample(scores, 5, rng=np.random.default_rng(0))
    assert sorted(everything.tolist()) == [0, 1, 2, 3, 4]


def test_power_sample_floors_zero_scores():
    scores = np.array([0.0, 0.0, 1.0])  # zeros are floored at a tiny positive value
    picks = [acq.power_sample(scores, 1, rng=np.random.default_rng(s))[0] for s in range(50)]
    assert set(picks) == {2}
    with pytest.raises(ValueError, match="beta"):
        acq.power_sample(scores, 1, beta=-1.0, rng=np.random.default_rng(0))


# --- 5. diversity: batch methods pick fewer near-duplicates than top-k --------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_batch_methods_pick_fewer_near_duplicates_than_top_k(seed):
    # 50 clusters x 20 near-copies (embedding and posterior samples); 5 hot clusters hold the
    # most uncertain galaxies. Top-k BALD stays inside them; every batch-aware method spreads out.
    rng = np.random.default_rng(seed)
    probs, embedding, cluster = cluster_pool(rng)
    k = 20
    top_distinct, top_pairs = duplicates(acq.select("bald", k, probs=probs, rng=rng), cluster)
    assert top_distinct <= 5
    for strategy in ("batch_bald", "power_bald", "kcenter", "badge"):
        picks = acq.select(strategy, k, probs=probs, embedding=embedding, rng=rng)
        distinct, pairs = duplicates(picks, cluster)
        assert distinct > top_distinct, strategy
        assert pairs < top_pairs, strategy


def test_k_center_covers_well_separated_clusters_and_respects_initial():
    _, embedding, cluster = cluster_pool(np.random.default_rng(10))
    picks = acq.k_center(embedding, 50, rng=np.random.default_rng(0))
    assert len(set(cluster[picks])) == 50  # clusters ~17 apart, copies ~0.3: one per cluster
    initial = np.flatnonzero(cluster < 10)
    picks = acq.k_center(embedding, 40, initial=initial, rng=np.random.default_rng(0))
    assert set(cluster[picks]) == set(range(10, 50))
    line = np.array([[0.0], [1.0], [10.0], [4.0]])
    picks = acq.k_center(line, 3, initial=np.array([0]), rng=np.random.default_rng(0))
    assert picks.tolist() == [2, 3, 1]  # farthest from {0}, then from {0, 10}, then the rest


def test_lcmd_takes_the_farthest_member_of_the_largest_cluster():
    line = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    picks = acq.lcmd(line, 3, centres=np.array([[0.0]]), rng=np.random.default_rng(0))
    # one cluster around 0 (squared spread 0+1+4+9+100): 10 first; then {0,1,2,3} (sum 14): 3;
    # then the clusters of 0 ({1}: 1) and 3 ({2}: 1) tie and the older centre's member wins
    assert picks.tolist() == [4, 3, 1]


def test_lcmd_labels_regions_by_how_many_galaxies_they_hold():
    rng = np.random.default_rng(12)
    big, small = rng.normal(0, 1, (1000, 2)), rng.normal(0, 1, (100, 2)) + np.array([30.0, 0.0])
    x = np.concatenate([big, small])
    centres = np.array([[0.0, 0.0], [30.0, 0.0]])
    picks = acq.lcmd(x, 22, centres=centres, rng=np.random.default_rng(0))
    assert len(set(picks.tolist())) == 22
    in_small = int((picks >= 1000).sum())
    assert 0 < in_small <= 6  # ~2 if spread by the squared distances the clusters hold
    # with the big region already labelled densely, the picks move to the small one
    picks = acq.lcmd(x, 10, centres=np.concatenate([centres, big[::4]]), rng=rng)
    assert (picks >= 1000).sum() >= 5


def test_lcmd_without_centres_and_on_a_pool_of_copies():
    x = np.repeat(np.eye(3), 4, axis=0)
    picks = acq.lcmd(x, 6, rng=np.random.default_rng(0))
    assert len(set(picks.tolist())) == 6
    assert len({tuple(x[i]) for i in picks[:3]}) == 3  # one of each copy before any repeat
    with pytest.raises(ValueError, match="features"):
        acq.lcmd(x, 2, centres=np.zeros((1, 2)), rng=np.random.default_rng(0))


def test_kernel_herding_matches_the_survey_and_fills_unlabelled_regions():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1, (900, 2)), rng.normal(8, 1, (100, 2))])
    picks = acq.kernel_herding(x, 50, rng=np.random.default_rng(0))
    assert len(set(picks.tolist())) == 50
    # a tenth of the survey lies in the small region: herding gives it a tenth of the labels,
    # where 50 random draws give 5 ± 2.1 (binomial) and k-center would chase the edges
    assert 4 <= int((picks >= 900).sum()) <= 6
    # with the big region labelled already, the labels go where labels are missing
    labelled = rng.normal(0, 1, (300, 2))
    picks = acq.kernel_herding(x, 30, centres=labelled, rng=np.random.default_rng(0))
    assert (picks >= 900).sum() >= 20
    with pytest.raises(ValueError, match="features"):
        acq.kernel_herding(x, 2, centres=np.zeros((1, 3)), rng=np.random.default_rng(0))


def test_median_bandwidth_follows_the_data_scale():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (400, 3))
    gamma = acq.median_bandwidth(x, rng=np.random.default_rng(0))
    # squared distance between two N(0, I_3) points is 2 chi2_3 (median 2 x 2.366)
    assert gamma == pytest.approx(1 / (2 * 2.366), rel=0.15)
    assert acq.median_bandwidth(10 * x, rng=np.random.default_rng(0)) == pytest.approx(gamma / 100)
    assert acq.median_bandwidth(np.ones((5, 2)), rng=np.random.default_rng(0)) == 1.0


def test_badge_starts_from_the_largest_gradient_and_handles_certain_pools():
    probs, embedding, _ = cluster_pool(np.random.default_rng(11))
    mean = probs.mean(1)
    gradient = mean - np.eye(mean.shape[1])[mean.argmax(1)]
    norms = np.linalg.norm(gradient, axis=1) * np.linalg.norm(embedding, axis=1)
    picks = acq.badge(probs, embedding, 5, rng=np.random.default_rng(0))
    assert picks[0] == int(np.argmax(norms))
    certain = np.zeros((6, 4, 3))
    certain[..., 0] = 1.0  # zero gradients everywhere: picks fall back to uniform, still distinct
    picks = acq.badge(certain, embedding[:6], 6, rng=np.random.default_rng(0))
    assert sorted(picks.tolist()) == list(range(6))


# --- 6. select() ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool():
    rng = np.random.default_rng(12)
    probs, embedding, _ = cluster_pool(rng, clusters=10, copies=6)
    loc, scale = rng.normal(size=(60, 32)), rng.uniform(0.1, 1.0, size=(60, 32))
    return {
        "probs": probs,
        "embedding": embedding,
        "probs_target": probs[::7],
        "loc": loc,
        "scale": scale,
        "loc_target": loc[::7],
        "scale_target": scale[::7],
    }


def classification(pool: dict) -> dict:
    inputs = {k: pool[k] for k in ("probs", "embedding", "probs_target")}
    return inputs | {"features": pool["embedding"][:, :3]}  # colour_herding's space


@pytest.mark.parametrize("strategy", acq.STRATEGIES)
def test_select_respects_exclusion_and_is_deterministic(pool, strategy):
    exclude = np.random.default_rng(13).random(60) < 0.5
    eligible = set(np.flatnonzero(~exclude).tolist())
    inputs = classification(pool)

    def run(seed: int, k: int) -> np.ndarray:
        return acq.select(strategy, k, rng=np.random.default_rng(seed), exclude=exclude, **inputs)

    picks = run(0, 8)
    assert len(picks) == 8 and len(set(picks.tolist())) == 8
    assert set(picks.tolist()) <= eligible
    assert run(0, 8).tolist() == picks.tolist()
    assert set(run(0, 1000).tolist()) == eligible  # k beyond the eligible: all of them


def test_select_regression_strategies(pool):
    reg = {k: pool[k] for k in ("loc", "scale", "loc_target", "scale_target", "embedding")}
    rng = np.random.default_rng(0)
    gain = acq.regression_information_gain(pool["loc"], pool["scale"])
    assert acq.select("bald", 5, rng=rng, **reg).tolist() == np.argsort(-gain)[:5].tolist()
    top_epig = np.argsort(-acq.regression_epig(*(reg[k] for k in list(reg)[:4])))[:5]
    assert acq.select("epig", 5, rng=rng, **reg).tolist() == top_epig.tolist()
    for strategy in ("random", "entropy", "power_bald", "power_epig", "kcenter", "lcmd", "herding"):
        assert len(set(acq.select(strategy, 5, rng=rng, **reg).tolist())) == 5


def test_select_random_depends_on_the_seed(pool):
    first = acq.select("random", 10, probs=pool["probs"], rng=np.random.default_rng(0))
    second = acq.select("random", 10, probs=pool["probs"], rng=np.random.default_rng(1))
    assert first.tolist() != second.tolist()  # equal with probability ~1e-17


@pytest.mark.parametrize(
    ("strategy", "given", "message"),
    [
        ("epig", ("probs",), "probs_target"),
        ("power_epig", ("loc", "scale", "loc_target"), "scale_target"),
        ("kcenter", ("probs",), "embedding"),
        ("lcmd", ("loc", "scale"), "embedding"),
        ("herding", ("loc", "scale"), "embedding"),
        ("badge", ("embedding",), "probs"),
        ("batch_bald", ("loc", "scale"), "probs"),
        ("margin", ("loc", "scale"), "probs"),
        ("bald", ("loc",), "scale"),
        ("bald", ("probs", "loc", "scale"), "not both"),
        ("random", (), "probs"),
        ("nonsense", ("probs",), "unknown strategy"),
    ],
)
def test_select_errors_name_the_missing_argument(pool, strategy, given, message):
    with pytest.raises(ValueError, match=message):
        acq.select(strategy, 3, rng=np.random.default_rng(0), **{k: pool[k] for k in given})


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_select_rejects_k_out_of_range(pool, k):
    with pytest.raises(ValueError, match="k must be"):
        acq.select("bald", k, probs=pool["probs"], rng=np.random.default_rng(0))


def test_select_rejects_inconsistent_inputs(pool):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="number of galaxies"):
        acq.select("badge", 3, probs=pool["probs"], embedding=pool["embedding"][:10], rng=rng)
    with pytest.raises(ValueError, match="exclude"):
        acq.select("bald", 3, probs=pool["probs"], exclude=np.zeros(60), rng=rng)
    with pytest.raises(ValueError, match="share the T posterior samples"):
        acq.select("epig", 3, probs=pool["probs"], probs_target=pool["probs"][:, :5], rng=rng)
    all_excluded = np.ones(60, dtype=bool)
    assert acq.select("bald", 3, probs=pool["probs"], exclude=all_excluded, rng=rng).size == 0


def test_scores_for(pool):
    probs = pool["probs"]
    np.testing.assert_array_equal(acq.scores_for("power_bald", probs=probs), acq.bald(probs))
    np.testing.assert_array_equal(
        acq.scores_for("power_epig", probs=probs, probs_target=pool["probs_target"]),
        acq.epig(probs, pool["probs_target"]),
    )
    uniform = acq.scores_for("random", probs=probs, rng=np.random.default_rng(0))
    assert uniform.shape == (60,) and ((uniform >= 0) & (uniform < 1)).all()
    with pytest.raises(ValueError, match="rng"):
        acq.scores_for("random", probs=probs)
    for strategy in ("batch_bald", "kcenter", "badge", "lcmd", "herding"):
        with pytest.raises(ValueError, match="no per-galaxy score"):
            acq.scores_for(strategy, probs=probs)


def test_with_control_is_the_one_selection_rule():
    n, rng = 100, np.random.default_rng(0)
    exclude, flagged = np.arange(n) < 10, np.arange(n) >= 80
    seen = {}

    def pick(candidates, m, control):
        seen.update(candidates=candidates.copy(), control=control)
        return np.flatnonzero(candidates)[:m]

    active, control = acq.with_control(
        n, 20, pick, rng=rng, control_fraction=0.25, exclude=exclude, flagged=flagged
    )
    assert len(active) == 15 and len(control) == 5 and len(set([*active, *control])) == 20
    assert not exclude[control].any() and not flagged[active].any()
    assert not seen["candidates"][control].any() and seen["control"] is control
    # too few unflagged galaxies: the flagged ones come back; k capped at the eligible
    active, control = acq.with_control(
        n, 200, pick, rng=rng, control_fraction=0.0, exclude=exclude, flagged=np.arange(n) >= 11
    )
    assert sorted(active.tolist()) == list(range(10, n)) and control.size == 0
    active, control = acq.with_control(n, 7, pick, rng=rng, control_fraction=0.1, all_control=True)
    assert active.size == 0 and len(set(control.tolist())) == 7
    with pytest.raises(ValueError, match="control_fraction"):
        acq.with_control(n, 5, pick, rng=rng, control_fraction=1.5)
