"""Latents: rescoring from cached latents, heads-only fits, the trunk's digest."""

import numpy as np
import pytest
import torch

from bayes.data import as_tensors
from bayes.latents import FrozenTrunk, Latents, encode, model_latents, trunk_digest
from bayes.layers.heads import combine, expert_outputs
from bayes.model import GalaxyModel
from bayes.predict import predict_latents
from tests.bayes.conftest import TASKS, small_config


def _cached(model, arrays, batch_size):
    """The model's latents as a cache would give them back: numpy, then tensors, per batch."""
    parts = list(model_latents(model, arrays, batch_size=batch_size))
    latents = np.concatenate([p.latents.numpy() for p in parts])
    mask = np.concatenate([p.mask.numpy() for p in parts])
    return Latents.from_numpy(latents, mask).batches(batch_size)


def test_the_posterior_from_cached_latents_is_the_posterior(fitted, data):
    full = fitted.predict(data[2], samples=8, batch_size=16, seed=4)
    heads = predict_latents(fitted, _cached(fitted, data[2], 16), samples=8, seed=4)
    for a, b in ((full.probs, heads.probs), (full.draws, heads.draws), (full.loc, heads.loc)):
        for task in a:
            assert np.array_equal(a[task], b[task])  # the same numbers, not merely close
    assert np.array_equal(full.embedding, heads.embedding)


def test_a_heads_only_fit_keeps_the_trunk_and_refits_the_heads(fitted, data):
    heads = GalaxyModel(small_config(epochs=2)).fit(
        data[2], data[3], init_from=fitted, update="heads"
    )
    assert trunk_digest(heads) == trunk_digest(fitted)
    for a, b in zip(heads.trunk_.parameters(), fitted.trunk_.parameters(), strict=True):
        assert torch.equal(a, b)
    before = fitted.posterior_.loc_scale("morphology")["weight"][0]
    assert not torch.equal(heads.posterior_.loc_scale("morphology")["weight"][0], before)
    warm = GalaxyModel(small_config(epochs=1)).fit(data[2], data[3], init_from=fitted)
    assert trunk_digest(warm) != trunk_digest(fitted)  # a warm update moves the trunk


def test_a_heads_only_fit_needs_a_model_to_keep(data):
    with pytest.raises(ValueError, match="init_from"):
        GalaxyModel(small_config()).fit(data[0], data[1], update="heads")


def test_the_digest_survives_a_checkpoint(fitted, tmp_path):
    loaded = GalaxyModel.load(fitted.save(tmp_path / "m"))
    assert trunk_digest(loaded) == trunk_digest(fitted)


def test_a_frozen_late_trunk_drops_a_modality_as_the_trunk_does(data):
    """Modality dropout in a heads-only fit: masking a late-fusion expert's cached latent gives
    the heads what the trunk gives them with that modality hidden."""
    model = GalaxyModel(small_config(fusion="late", epochs=1)).fit(data[0], data[1])
    arrays = data[2]
    trunk = model.trunk_
    cached = encode(trunk, arrays, n_bands=model.n_bands_, n_phot=model.n_phot_)
    present = cached.present.clone()
    present[::2, 0] = False  # hide every other galaxy's image
    with torch.no_grad():
        z, mask = trunk(as_tensors(arrays, n_bands=model.n_bands_, n_phot=model.n_phot_), present)
        fz, fmask = FrozenTrunk(trunk)(cached, present)
    heads = model.posterior_.sample(3, torch.Generator().manual_seed(0))
    for task in TASKS:
        a = combine(task, expert_outputs(z, *heads[task.name]), mask)
        b = combine(task, expert_outputs(fz, *heads[task.name]), fmask)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert not torch.equal(mask, cached.mask)  # the hiding did something
