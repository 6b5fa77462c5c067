"""LURE importance weights: each pick's draw ratio, and weights that make a stochastic
selection's mean weighted loss an unbiased estimate of the pool's mean loss."""

import itertools

import numpy as np
import pytest

from bayes.acquisition import draw_ratios, lure_weights, power_sample


def _sequence_probability(scores: np.ndarray, seq: tuple[int, ...]) -> float:
    """Exact probability of drawing ``seq`` in that order, one at a time prop. to scores."""
    left, p = scores.sum(), 1.0
    for i in seq:
        p *= scores[i] / left
        left -= scores[i]
    return p


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_weighted_loss_of_every_possible_selection_averages_to_the_pool_loss(beta):
    # Enumerate every ordered selection of M = 3 from N = 6 (120 of them), each with its exact
    # probability: the expected LURE-weighted mean loss must equal the pool's mean loss exactly.
    scores = np.array([0.1, 2.0, 0.5, 3.0, 1.0, 0.05])
    loss = np.array([4.0, 0.5, 1.0, 0.2, 2.0, 7.0])
    n, m = len(scores), 3
    expected, total_p, naive = 0.0, 0.0, 0.0
    for seq in itertools.permutations(range(n), m):
        p = _sequence_probability(scores**beta, seq)
        ratio = draw_ratios(scores, np.array(seq), beta=beta)
        v = lure_weights(np.arange(1, m + 1), ratio, n)
        expected += p * np.mean(v * loss[list(seq)])
        naive += p * loss[list(seq)].mean()
        total_p += p
    assert total_p == pytest.approx(1.0, abs=1e-12)
    assert expected == pytest.approx(loss.mean(), rel=1e-12)  # only rounding is left
    assert abs(naive - loss.mean()) > 0.5  # unweighted, the picks' loss is far from the pool's


def test_draw_ratios_match_the_frequencies_of_power_sample():
    # The first pick of power_sample is galaxy i with probability s_i / sum(s); 20 000 draws
    # put each frequency within 4.5 binomial sd of it (sd <= 0.0035).
    scores = np.array([1.0, 4.0, 0.5, 2.5])
    rng = np.random.default_rng(0)
    first = np.array([power_sample(scores, 2, rng=rng)[0] for _ in range(20_000)])
    frequency = np.bincount(first, minlength=4) / len(first)
    ratios_first = np.array([draw_ratios(scores, np.array([i]))[0] for i in range(4)])
    np.testing.assert_allclose(frequency, ratios_first / len(scores), atol=0.016)
    # the second pick's probability is its score over the scores left
    assert draw_ratios(scores, np.array([1, 3]))[1] == pytest.approx(3 * 2.5 / 4.0)


def test_uniform_draws_weigh_one_and_inputs_are_checked():
    assert np.array_equal(draw_ratios(np.ones(5), np.array([4, 0, 2])), np.ones(3))
    assert np.array_equal(lure_weights(np.array([2, 1, 3]), np.ones(3), 10), np.ones(3))
    # the pool's last galaxy (N - m = 0) keeps weight 1 rather than dividing by zero
    assert lure_weights(np.array([1, 2]), np.array([1.0, 0.5]), 2).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="distinct"):
        draw_ratios(np.ones(4), np.array([1, 1]))
    with pytest.raises(ValueError, match="positions"):
        draw_ratios(np.ones(4), np.array([4]))
    with pytest.raises(ValueError, match="permutation"):
        lure_weights(np.array([1, 3]), np.ones(2), 10)
    with pytest.raises(ValueError, match="> 0"):
        lure_weights(np.array([1, 2]), np.array([1.0, 0.0]), 10)


def test_draw_ratios_stay_exact_when_the_picks_exhaust_the_large_scores():
    # Scores spanning 600 orders of magnitude: once the large ones are drawn, the small ones'
    # probabilities are among themselves (here 1 and 1/2, then 1), not 0/0.
    scores = np.array([1e300, 1e-300, 2e-300])
    ratios = draw_ratios(scores, np.array([0, 2, 1]))
    np.testing.assert_allclose(ratios, [3 * 1.0, 2 * 2 / 3, 1.0], rtol=1e-12)
