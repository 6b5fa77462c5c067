"""CalibratedModel: one predict that returns the recalibrated posterior, saved and loaded whole."""

import pickle

import numpy as np
import pytest
import torch

from bayes.baselines.network import DeepEnsemble, MCDropoutModel
from bayes.calibrated import CalibratedModel, Predictive
from bayes.calibration import Calibration
from bayes.checkpoint import save
from bayes.model import GalaxyModel
from tests.bayes.conftest import small_config


def test_predict_is_the_recalibrated_posterior_and_survives_a_round_trip(fitted, data, tmp_path):
    calibration = Calibration(temperature={"morphology": 1.7}, spread={"redshift": 2.0})
    model = CalibratedModel(fitted, calibration)
    post = model.predict(data[2], samples=4, seed=3)
    raw = fitted.predict(data[2], samples=4, seed=3)
    expected = calibration.apply(raw, fitted.config.tasks)
    np.testing.assert_array_equal(post.probs["morphology"], expected.probs["morphology"])
    np.testing.assert_array_equal(post.scale["redshift"], expected.scale["redshift"])
    assert not np.array_equal(post.scale["redshift"], raw.scale["redshift"])  # it did widen
    model.save(tmp_path / "m", metadata={"version": "s-v1"})
    loaded = CalibratedModel.load(tmp_path / "m")
    assert loaded.calibration == calibration and loaded.config == fitted.config
    again = loaded.predict(data[2], samples=4, seed=3)
    np.testing.assert_array_equal(again.draws["redshift"], post.draws["redshift"])


def test_a_checkpoint_without_recalibration_is_refused(fitted, tmp_path):
    save(fitted, tmp_path / "bare")
    with pytest.raises(ValueError, match="no recalibration"):
        CalibratedModel.load(tmp_path / "bare")


def test_the_bayesian_model_and_the_baselines_share_one_protocol(fitted):
    for model in (GalaxyModel, MCDropoutModel, DeepEnsemble):
        assert isinstance(model(fitted.config), Predictive), model
    assert not isinstance(Calibration({}, {}), Predictive)  # no fit, predict or config


@pytest.mark.parametrize("kind", [GalaxyModel, MCDropoutModel, DeepEnsemble])
def test_every_predictive_model_saves_and_loads_without_pickle(kind, data, tmp_path, monkeypatch):
    config = small_config(epochs=1)
    model = kind(config).fit(data[0], data[1])
    model.save(tmp_path / "m", metadata={"note": "x"})

    def refuse(*args, **kwargs):
        raise AssertionError("a model must load without unpickling")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = kind.load(tmp_path / "m")
    a, b = model.predict(data[2], seed=4), loaded.predict(data[2], seed=4)
    np.testing.assert_array_equal(a.probs["morphology"], b.probs["morphology"])
    np.testing.assert_array_equal(a.draws["redshift"], b.draws["redshift"])
    assert loaded.config == config
    other = DeepEnsemble if kind is not DeepEnsemble else MCDropoutModel
    with pytest.raises(ValueError):  # another kind's directory is refused, never misread
        other.load(tmp_path / "m")
