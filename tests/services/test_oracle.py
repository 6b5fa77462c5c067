"""Oracle references: the loss on the true class, by hand, and the picks it drives."""

from __future__ import annotations

import numpy as np
import pytest

from bayes import acquisition
from bayes.predict import Posterior
from research.oracle import oracle_batch, truth_loss


def posterior(probs: np.ndarray) -> Posterior:
    return Posterior({"morph": probs}, {}, {}, {}, np.zeros((len(probs), 2)))


def test_truth_loss_is_minus_log_of_the_mean_probability_of_the_true_class() -> None:
    probs = np.array(
        [
            [[0.7, 0.2, 0.1], [0.5, 0.4, 0.1]],  # mean (0.6, 0.3, 0.1), truth 1 -> -log 0.3
            [[0.1, 0.1, 0.8], [0.3, 0.1, 0.6]],  # mean (0.2, 0.1, 0.7), truth 2 -> -log 0.7
        ]
    )
    loss = truth_loss(posterior(probs), "morph", np.array([1, 2]))
    np.testing.assert_allclose(loss, [-np.log(0.3), -np.log(0.7)], rtol=0, atol=1e-12)


def test_oracle_loss_takes_the_worst_predicted_and_values_are_bald() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=(50, 8))
    truth = rng.integers(0, 4, 50)
    loss = truth_loss(posterior(probs), "morph", truth)
    batch = oracle_batch(posterior(probs), "morph", truth, 5, rng, strategy="oracle_loss")
    assert set(batch.indices) == set(np.argsort(-loss)[:5])
    assert not batch.is_control.any()
    np.testing.assert_allclose(batch.values, acquisition.bald(probs[batch.indices]), atol=1e-12)


def test_oracle_power_never_picks_what_the_model_already_gets_right() -> None:
    # 20 galaxies certain and right (loss 0), 20 certain and wrong (loss large): power
    # sampling in proportion to the loss can only pick among the wrong ones
    right = np.tile([1.0, 0.0], (20, 4, 1))
    wrong = np.tile([0.01, 0.99], (20, 4, 1))
    probs, truth = np.concatenate([right, wrong]), np.zeros(40, np.int64)
    picks = oracle_batch(
        posterior(probs), "morph", truth, 10, np.random.default_rng(3), strategy="oracle_power"
    ).indices
    assert len(set(picks)) == 10 and (picks >= 20).all()
    again = oracle_batch(
        posterior(probs), "morph", truth, 10, np.random.default_rng(3), strategy="oracle_power"
    ).indices
    np.testing.assert_array_equal(picks, again)


def test_refuses_regression_bad_truth_and_unknown_names() -> None:
    probs = np.full((3, 2, 2), 0.5)
    with pytest.raises(ValueError, match="class indices"):
        truth_loss(posterior(probs), "morph", np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="classification task"):
        truth_loss(posterior(probs), "z", np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="unknown oracle"):
        oracle_batch(posterior(probs), "morph", np.zeros(3), 1, np.random.default_rng(0),
                     strategy="oracle")  # fmt: skip
