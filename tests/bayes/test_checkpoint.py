"""Checkpoints: safetensors + JSON round trip, never unpickling."""

import pickle

import numpy as np
import pytest
import torch

from bayes.checkpoint import FORMAT, load, read_config, read_metadata, save


def test_round_trip_gives_identical_predictions(fitted, data, tmp_path, monkeypatch):
    save(fitted, tmp_path / "m", metadata={"labels": [1, 2, 3]})

    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint must load without unpickling")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = load(tmp_path / "m")
    a = fitted.predict(data[2], samples=4, seed=9)
    b = loaded.predict(data[2], samples=4, seed=9)
    assert np.array_equal(a.probs["morphology"], b.probs["morphology"])
    assert np.array_equal(a.draws["redshift"], b.draws["redshift"])
    assert np.array_equal(a.embedding, b.embedding)
    assert loaded.config == fitted.config
    assert read_metadata(tmp_path / "m") == {"labels": [1, 2, 3]}
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "model.json",
        "weights.safetensors",
    ]
    (tmp_path / "m" / "weights.safetensors").unlink()  # the config is read without the weights
    assert read_config(tmp_path / "m") == fitted.config


def test_wrong_format_is_refused(fitted, tmp_path):
    path = save(fitted, tmp_path / "m")
    meta = path / "model.json"
    meta.write_text(meta.read_text().replace(FORMAT, "other/9"))
    with pytest.raises(ValueError, match="other/9"):
        load(path)
