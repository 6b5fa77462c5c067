"""Masked multimodal pretraining: what is hidden, that it learns, that it resumes exactly, and
that a model's heads can sit on the pretrained trunk."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bayes.contrastive import TEMPERATURE, contrastive_loss
from bayes.data import as_tensors
from bayes.layers.fusion import Trunk
from bayes.model import GalaxyModel
from bayes.pretrain import PretrainConfig, mask_batch, pretrain
from tests.bayes.conftest import small_config
from tests.bayes.synthetic import survey

WIDTHS = {"n_bands": 3, "n_phot": 5}


@pytest.fixture(scope="module")
def arrays():
    return survey(96, np.random.default_rng(3), p_spec=0.5)[0]


def _trunk(**kw) -> Trunk:
    torch.manual_seed(0)
    return Trunk(small_config(**kw), **WIDTHS)


def test_mask_hides_most_of_each_modality_and_never_all_of_a_kept_one(arrays):
    inputs = as_tensors(arrays, **WIDTHS)
    config = PretrainConfig(mask_ratio=0.75, band_ratio=0.4, drop_modality=0.0, image_patch=4)
    m = mask_batch(inputs, config, 8, torch.Generator().manual_seed(0))
    assert torch.equal(m.present, inputs.present)  # no modality dropped whole
    # images: 16 patches of 4x4, 12 hidden in each galaxy; hidden pixels are zero
    assert (m.hidden_patches.flatten(1).sum(1) == 12).all()
    hidden_px = m.hidden_patches.repeat_interleave(4, 1).repeat_interleave(4, 2)
    assert (m.inputs.image.permute(1, 0, 2, 3)[:, hidden_px] == 0).all()
    assert torch.equal(m.inputs.image[:, :, ~hidden_px[0]][0], inputs.image[0][:, ~hidden_px[0]])
    # spectra: hidden pixels were valid and are no longer; every spectrum keeps some
    spec = inputs.present[:, 1]
    assert not (m.hidden_pixels & ~inputs.pixel_valid).any()
    assert not (m.inputs.pixel_valid & m.hidden_pixels).any()
    assert m.inputs.pixel_valid[spec].any(1).all()
    share = m.hidden_pixels[spec].sum(1) / inputs.pixel_valid[spec].sum(1)
    assert 0.6 < float(share.mean()) < 0.9  # whole 8-pixel tokens, 75% of them
    # photometry: round(0.4 * 5) = 2 of 5 bands hidden, their triples zeroed
    assert (m.hidden_bands.sum(1) == 2).all()
    assert (m.inputs.phot[m.hidden_bands] == 0).all()


def test_dropped_modalities_are_hidden_whole(arrays):
    inputs = as_tensors(arrays, **WIDTHS)
    config = PretrainConfig(drop_modality=0.5, image_patch=4)
    m = mask_batch(inputs, config, 8, torch.Generator().manual_seed(1))
    dropped = inputs.present & ~m.present
    assert dropped.any(0).all()  # each modality dropped somewhere at p = 0.5 over 96 galaxies
    assert m.present[inputs.present.any(1)].any(1).all()  # one always kept
    assert m.hidden_patches[dropped[:, 0]].all()
    assert torch.equal(m.hidden_pixels[dropped[:, 1]], inputs.pixel_valid[dropped[:, 1]])
    assert m.hidden_bands[dropped[:, 2]].all()


def test_pretraining_lowers_every_reconstruction_loss(arrays):
    config = PretrainConfig(epochs=10, batch_size=32, lr=3e-3, image_patch=4)
    state = pretrain(_trunk(), arrays, config, **WIDTHS)
    first, last = state.losses[0], state.losses[-1]
    assert set(first) == {"image", "spectrum", "photometry"}
    # an untrained decoder's error, not a floor: the images' pixel noise bounds how far the
    # image loss can fall (it fell 27% in development, the others by 75-95%)
    for name in first:
        assert last[name] < 0.85 * first[name], (name, first[name], last[name])


def test_a_resumed_run_ends_where_an_unbroken_one_does(arrays):
    config = PretrainConfig(epochs=3, batch_size=32, image_patch=4)
    straight = _trunk()
    pretrain(straight, arrays, config, **WIDTHS)
    saved = []
    broken = _trunk()
    pretrain(broken, arrays, dataclasses.replace(config, epochs=1), **WIDTHS, on_epoch=saved.append)
    resumed = _trunk()  # fresh weights: everything must come from the saved state
    state = pretrain(resumed, arrays, config, **WIDTHS, resume=saved[-1])
    assert state.epoch == 3 and len(state.losses) == 3
    other = resumed.state_dict()
    for name, value in straight.state_dict().items():
        assert torch.equal(value, other[name]), name


def test_heads_on_a_frozen_encoder_keep_it_and_fine_tuning_moves_it(arrays):
    arrays_, targets = survey(64, np.random.default_rng(4))
    encoder = _trunk()
    pretrain(encoder, arrays, PretrainConfig(epochs=1, image_patch=4), **WIDTHS)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    frozen = GalaxyModel(small_config()).fit(arrays_, targets, encoder=encoder, update="heads")
    for name, value in frozen.trunk_.state_dict().items():
        assert torch.equal(value, before[name]), name
    tuned = GalaxyModel(small_config()).fit(arrays_, targets, encoder=encoder, update="warm")
    moved = [not torch.equal(v, before[k]) for k, v in tuned.trunk_.state_dict().items()]
    assert any(moved)
    # under a prior centred on the encoder (std 0.01 here) the weights stay closer to it
    tied = GalaxyModel(small_config(anchor_scale=0.01)).fit(
        arrays_, targets, encoder=encoder, update="prior"
    )

    def shift(model: GalaxyModel) -> float:
        weights = model.trunk_.named_parameters()
        return sum(float((p.detach() - before[k]).norm()) for k, p in weights)

    assert shift(tied) < 0.5 * shift(tuned)
    assert all(torch.equal(v, before[k]) for k, v in encoder.state_dict().items())  # a copy


def test_a_probe_fits_heads_on_the_frozen_encoder_then_fine_tunes_from_them(arrays):
    arrays_, targets = survey(64, np.random.default_rng(6))
    encoder = _trunk()
    pretrain(encoder, arrays, PretrainConfig(epochs=1, image_patch=4), **WIDTHS)
    probed = GalaxyModel(small_config()).fit(arrays_, targets, encoder=encoder, update="probe")
    heads = GalaxyModel(small_config()).fit(arrays_, targets, encoder=encoder, update="heads")
    by_hand = GalaxyModel(small_config()).fit(arrays_, targets, init_from=heads)
    for mine, theirs in ((probed.trunk_, by_hand.trunk_), (probed.posterior_, by_hand.posterior_)):
        for name, value in mine.state_dict().items():
            assert torch.equal(value, theirs.state_dict()[name]), name
    start = encoder.state_dict()
    assert any(not torch.equal(v, start[k]) for k, v in probed.trunk_.state_dict().items())
    with pytest.raises(ValueError, match="needs an encoder"):
        GalaxyModel(small_config()).fit(arrays_, targets, update="probe")


def test_an_encoder_serves_galaxies_without_a_modality_it_was_pretrained_with(arrays):
    encoder = _trunk()  # pretrained on images, spectra and photometry
    pretrain(encoder, arrays, PretrainConfig(epochs=1, image_patch=4), **WIDTHS)
    arrays_, targets = survey(48, np.random.default_rng(7))
    images = arrays_.only(("image",))
    assert images.flux is None and images.phot_flux is None
    assert images.present().tolist() == [[True, False, False]] * 48
    model = GalaxyModel(small_config()).fit(images, targets, encoder=encoder, update="warm")
    assert (model.n_bands_, model.n_phot_) == (WIDTHS["n_bands"], WIDTHS["n_phot"])
    assert np.isfinite(model.predict(images).draws["redshift"]).all()
    with pytest.raises(ValueError, match="'spectrum' is configured but no galaxy has it"):
        GalaxyModel(small_config()).fit(images, targets)  # from scratch it needs them all
    with pytest.raises(ValueError, match="unknown modalities"):
        arrays_.only(("imaging",))


def test_an_encoder_of_another_architecture_is_refused(arrays):
    encoder = _trunk(latent_dim=8)
    arrays_, targets = survey(16, np.random.default_rng(5))
    with pytest.raises(ValueError, match="does not fit this model's architecture"):
        GalaxyModel(small_config()).fit(arrays_, targets, encoder=encoder, update="heads")
    fitted = GalaxyModel(small_config()).fit(arrays_, targets, encoder=_trunk(), update="heads")
    with pytest.raises(ValueError, match="not with init_from"):
        GalaxyModel(small_config()).fit(arrays_, targets, encoder=_trunk(), init_from=fitted)


@pytest.mark.parametrize(("fusion", "parts"), [("early", {"image", "photometry"}), ("late", None)])
def test_every_fusion_pretrains(arrays, fusion, parts):
    """Early fusion bins spectra inside its one network, so no token decoder; late fusion
    reconstructs from the mean of its experts' latents."""
    state = pretrain(_trunk(fusion=fusion), arrays, PretrainConfig(epochs=1), **WIDTHS)
    assert set(state.losses[0]) == (parts or {"image", "spectrum", "photometry"})


def test_a_survey_of_images_alone_pretrains(arrays):
    """No catalogue: nothing to scale photometry by, and no photometry decoder."""
    images = arrays.only(("image",))
    assert images.phot_flux is None
    trunk = _trunk(modalities=("image",))
    state = pretrain(trunk, images, PretrainConfig(epochs=1, image_patch=4), **WIDTHS)
    assert set(state.losses[0]) == {"image"}


def test_the_contrastive_term_is_log_n_when_blind_and_near_zero_when_certain():
    same = torch.ones(8, 4)
    assert float(contrastive_loss(same, same)) == pytest.approx(np.log(8), rel=1e-6)
    # one-hot pairs, centred: cosine 1 with the partner, -1/7 with each of the other 7
    eye = torch.eye(8)
    expected = np.log1p(7 * np.exp((-1 / 7 - 1) / TEMPERATURE))
    # float32 log-softmax of logits of 10: rounding of ~1e-6 in absolute terms
    assert float(contrastive_loss(eye, 3 * eye)) == pytest.approx(expected, abs=1e-6)


def test_contrastive_pretraining_learns_to_pair_images_with_spectra(arrays):
    """The term ends well below log(pairs), what latents blind to the pairing score (it starts
    above: an untrained trunk's centred latents are confidently wrong)."""
    config = PretrainConfig(epochs=8, batch_size=32, lr=3e-3, image_patch=4, contrastive=1.0)
    state = pretrain(_trunk(), arrays, config, **WIDTHS)
    terms = [epoch["contrastive"] for epoch in state.losses]
    assert terms[0] > np.log(32) > terms[-1] / 0.9, terms  # 32 of the 45 pairs a step
    plain = pretrain(_trunk(), arrays, dataclasses.replace(config, contrastive=0.0), **WIDTHS)
    assert "contrastive" not in plain.losses[0]


def test_the_contrastive_term_needs_images_and_spectra(arrays):
    images = arrays.only(("image", "photometry"))
    with pytest.raises(ValueError, match="0 of 96 have both"):
        pretrain(_trunk(), images, PretrainConfig(epochs=1, contrastive=1.0), **WIDTHS)
    with pytest.raises(ValueError, match="pairs images with spectra"):
        trunk = _trunk(modalities=("image", "photometry"))
        pretrain(trunk, arrays, PretrainConfig(epochs=1, contrastive=1.0), **WIDTHS)
