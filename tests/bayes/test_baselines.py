"""Baselines: MC dropout runs the whole network T times; ensemble; classical models."""

import math

import numpy as np
import pytest

from bayes.baselines import DeepEnsemble, MCDropoutModel, classical_model, photometry_features
from bayes.baselines.classical import spectrum_features
from bayes.checks.metrics import r2
from tests.bayes.conftest import small_config


def test_mc_dropout_runs_the_whole_trunk_t_times(data):
    model = MCDropoutModel(small_config(epochs=1), dropout=0.2).fit(data[0], data[1])
    calls = []
    hook = model.network_.trunk.register_forward_hook(lambda *_: calls.append(1))
    try:
        post = model.predict(data[2], samples=5, batch_size=16)
    finally:
        hook.remove()
    assert len(calls) == 5 * math.ceil(len(data[2]) / 16)
    assert post.probs["morphology"].shape == (len(data[2]), 5, 3)
    assert post.probs["morphology"].std(1).max() > 0  # dropout really is on at prediction


def test_deep_ensemble_has_one_sample_per_member(data):
    ens = DeepEnsemble(small_config(epochs=1), members=2).fit(data[0], data[1])
    post = ens.predict(data[2])
    assert post.draws["redshift"].shape == (len(data[2]), 2)
    assert not np.allclose(post.loc["redshift"][:, 0], post.loc["redshift"][:, 1])


def test_warm_start_begins_at_the_previous_weights_and_leaves_them_alone(data):
    first = DeepEnsemble(small_config(epochs=1), members=2).fit(data[0], data[1])
    before = first.predict(data[2]).loc["redshift"].copy()
    # zero epochs: the warm members take no step, so they must predict exactly what they
    # started from (a cold fit of zero epochs would predict from random weights)
    frozen = DeepEnsemble(small_config(epochs=0), members=2)
    frozen.fit(data[0], data[1], init_from=first)
    np.testing.assert_array_equal(frozen.predict(data[2]).loc["redshift"], before)
    DeepEnsemble(small_config(epochs=1), members=2).fit(data[0], data[1], init_from=first)
    np.testing.assert_array_equal(first.predict(data[2]).loc["redshift"], before)


def test_mc_dropout_warm_start_starts_from_a_lower_loss(data):
    cold = MCDropoutModel(small_config(epochs=2), dropout=0.2).fit(data[0], data[1])
    warm = MCDropoutModel(small_config(epochs=1), dropout=0.2)
    warm.fit(data[0], data[1], init_from=cold)
    # the warm fit's first epoch is a third epoch of the same network; the cold fit's first
    # epoch began at random weights
    assert warm.loss_history_[0] < cold.loss_history_[0]


def test_warm_start_refuses_a_different_model(data):
    cold = MCDropoutModel(small_config(epochs=1), dropout=0.2).fit(data[0], data[1])
    with pytest.raises(ValueError, match=r"dropout 0\.2"):
        MCDropoutModel(small_config(epochs=1), dropout=0.1).fit(data[0], data[1], init_from=cold)
    with pytest.raises(ValueError, match="different architecture"):
        MCDropoutModel(small_config(epochs=1, latent_dim=8), dropout=0.2).fit(
            data[0], data[1], init_from=cold
        )
    with pytest.raises(ValueError, match="has 2 members"):
        DeepEnsemble(small_config(epochs=1), members=3).fit(
            data[0],
            data[1],
            init_from=DeepEnsemble(small_config(epochs=1), members=2).fit(data[0], data[1]),
        )


def test_classical_linear_model_recovers_redshift_from_colours(data):
    x, y = photometry_features(data[0]), data[1]["redshift"]
    model = classical_model("linear").fit(x, y)
    # colours are linear in z with 2% flux noise: R^2 should be near 1; 0.9 is a loose floor
    assert r2(model.predict(photometry_features(data[2])), data[3]["redshift"]) > 0.9
    feats = spectrum_features(data[2], bins=8)
    assert feats.shape == (len(data[2]), 8)
    assert np.isnan(feats[~data[2].has_spectrum]).all()
    forest = classical_model("forest", task="classification").fit(feats, data[3]["morphology"])
    assert forest.predict(feats).shape == (len(data[2]),)
