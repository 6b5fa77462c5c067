"""Posterior predictive: shapes, streaming, the trunk run once per batch, summaries."""

import math

import numpy as np
import pytest

from bayes.model import GalaxyModel
from bayes.predict import (
    NotFittedError,
    classification_uncertainty,
    regression_uncertainty,
    summarize_draws,
)
from tests.bayes.conftest import small_config


def test_shapes_units_and_normalisation(fitted, data):
    post = fitted.predict(data[2], samples=5, batch_size=16)
    n = len(data[2])
    assert post.probs["morphology"].shape == (n, 5, 3)
    np.testing.assert_allclose(post.probs["morphology"].sum(-1), 1.0, atol=1e-5)
    assert post.draws["redshift"].shape == post.scale["redshift"].shape == (n, 5)
    assert (post.draws["redshift"] > -1).all()  # expm1 of log(1+z): natural units
    assert post.embedding.shape == (n, fitted.config.latent_dim)
    assert set(post.uncertainty("morphology")) == {"total", "aleatoric", "epistemic"}


def test_batching_and_streaming_do_not_change_the_posterior(fitted, data):
    a = fitted.predict(data[2], samples=6, batch_size=7, seed=3)
    b = fitted.predict(data[2], samples=6, batch_size=40, seed=3)
    c = fitted.predict(iter(list(data[2].batches(13))), samples=6, seed=3)
    for other in (b, c):
        # the same T head draws for every batch; per-row float32 work, so 1e-5 suffices
        np.testing.assert_allclose(a.probs["morphology"], other.probs["morphology"], atol=1e-5)
        np.testing.assert_allclose(a.loc["redshift"], other.loc["redshift"], atol=1e-5)
        np.testing.assert_allclose(a.embedding, other.embedding, atol=1e-5)


def test_trunk_runs_once_per_batch(fitted, data):
    calls = []
    hook = fitted.trunk_.register_forward_hook(lambda *_: calls.append(1))
    try:
        fitted.predict(data[2], samples=32, batch_size=16)
    finally:
        hook.remove()
    assert len(calls) == math.ceil(len(data[2]) / 16)  # not 32 times that


def test_predict_before_fit_raises(data):
    with pytest.raises(NotFittedError):
        GalaxyModel(small_config()).predict(data[2])


def test_uncertainty_decomposition_by_hand():
    same = np.tile([[0.5, 0.5]], (1, 4, 1))  # (N=1, T=4, C=2) identical samples
    out = classification_uncertainty(same)
    assert out["epistemic"][0] == pytest.approx(0.0, abs=1e-12)
    assert out["aleatoric"][0] == pytest.approx(np.log(2))
    split = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # confident and disagreeing: all epistemic
    assert classification_uncertainty(split)["epistemic"][0] == pytest.approx(np.log(2))
    reg = regression_uncertainty(np.array([[1.0, 3.0]]), np.array([[3.0, 4.0]]))
    assert reg["epistemic"][0] == pytest.approx(1.0)  # std of (1, 3)
    assert reg["aleatoric"][0] == pytest.approx(np.sqrt(12.5))  # rms of (3, 4)


def test_summaries_of_gaussian_draws():
    rng = np.random.default_rng(0)
    draws = rng.normal(2.0, 0.5, size=(3, 4000))
    s = summarize_draws(draws)
    np.testing.assert_allclose(s["P16"], np.quantile(draws, 0.16, axis=1))
    np.testing.assert_allclose(s["P97P5"], np.quantile(draws, 0.975, axis=1))
    np.testing.assert_allclose(s["AVG"], draws.mean(1))
    # mode of a KDE of 4000 draws: sd of the estimate ~0.05 here, tolerance 0.15 = 3 sd
    np.testing.assert_allclose(s["MODE"], 2.0, atol=0.15)
    # Gaussian entropy 0.5 log(2 pi e 0.25) = 0.726; the KDE widens sd by ~3% (+0.03 nats)
    np.testing.assert_allclose(s["ENTROPY"], 0.5 * np.log(2 * np.pi * np.e * 0.25), atol=0.06)
    assert list(s) == ["AVG", "MEDIAN", "MODE", "P16", "P84", "P2P5", "P97P5", "ENTROPY"]
