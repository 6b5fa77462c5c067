"""Two views of a galaxy (the square's eight symmetries, more noise) and the VICReg term that
pretraining with ``invariance`` adds: exact symmetries, bounded noise, the loss's three terms by
construction, and that pretraining with it lowers it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bayes.data import as_tensors
from bayes.invariance import NOISE, WEIGHTS, dihedral, second_view, vicreg
from bayes.layers.fusion import Trunk, embedding
from bayes.pretrain import PretrainConfig, pretrain
from tests.bayes.conftest import small_config
from tests.bayes.synthetic import survey

WIDTHS = {"n_bands": 3, "n_phot": 5}


def test_the_eight_symmetries_are_exact_and_distinct() -> None:
    image = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)  # no symmetry
    views = [dihedral(image, torch.tensor([k])) for k in range(8)]
    assert torch.equal(views[0], image)
    assert torch.equal(views[1], torch.rot90(image, 1, dims=(2, 3)))
    assert torch.equal(views[4], image.flip(3))
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8
    for v in views:  # a permutation of the pixels of each band, nothing interpolated
        assert torch.equal(v.flatten(2).sort(-1).values, image.flatten(2).sort(-1).values)
    both = dihedral(image.repeat(2, 1, 1, 1), torch.tensor([0, 2]))  # per galaxy
    assert torch.equal(both[0], image[0]) and torch.equal(both[1], views[2][0])


def test_non_square_cutouts_keep_their_shape() -> None:
    image = torch.arange(3 * 5, dtype=torch.float32).view(1, 1, 3, 5)
    views = [dihedral(image, torch.tensor([k])) for k in range(8)]
    assert all(v.shape == image.shape for v in views)  # no quarter turns
    assert len({tuple(v.flatten().tolist()) for v in views}) == 4  # the four that fit
    assert any(torch.equal(v, torch.rot90(image, 2, dims=(2, 3))) for v in views)


def test_the_second_view_is_a_symmetry_plus_bounded_noise() -> None:
    g = torch.Generator().manual_seed(0)
    image = torch.zeros(500, 1, 8, 8)  # blank: what is left is the added noise
    noise = second_view(image, g).flatten(1).std(1)
    assert float(noise.max()) < 1.3 * NOISE and float(noise.min()) < 0.1 * NOISE  # U[0, NOISE)
    assert 0.4 * NOISE < float(noise.mean()) < 0.6 * NOISE


def test_vicreg_terms_by_construction() -> None:
    g = torch.Generator().manual_seed(0)
    white = torch.randn(4096, 8, generator=g)  # unit variance, uncorrelated
    same = float(vicreg(white, white))
    assert same < 0.1  # no invariance error; variance and covariance terms near 0
    collapsed = torch.zeros(64, 8)
    # every dimension's std is sqrt(1e-4): the variance hinge is 1 - 0.01 in both views
    assert float(vicreg(collapsed, collapsed)) == pytest.approx(WEIGHTS[1] * 0.99, rel=1e-5)
    shifted = float(vicreg(white, white + 0.5))
    assert shifted == pytest.approx(same + WEIGHTS[0] * 0.25, rel=1e-4)


def _latents(trunk: Trunk, inputs) -> torch.Tensor:
    trunk.eval()
    with torch.no_grad():
        return embedding(*trunk(inputs, trunk.usable(inputs.present)))


def test_pretraining_with_invariance_lowers_the_term_it_is_given() -> None:
    """The VICReg term between a galaxy and its second view (turned or mirrored, more noise),
    measured the same way on both trunks, is lower after pretraining with it than without:
    gradients reach the trunk through both views."""
    arrays = survey(96, np.random.default_rng(3), p_spec=0.5)[0].only(("image",))
    inputs = as_tensors(arrays, **WIDTHS)
    other = dataclasses.replace(
        inputs, image=second_view(inputs.image, torch.Generator().manual_seed(1))
    )
    term = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        trunk = Trunk(small_config(modalities=("image",)), **WIDTHS)
        config = PretrainConfig(epochs=20, batch_size=32, lr=3e-3, image_patch=4,
                                invariance=weight)  # fmt: skip
        state = pretrain(trunk, arrays, config, **WIDTHS)
        assert ("invariance" in state.losses[-1]) == (weight > 0)
        if weight:
            first, last = state.losses[0]["invariance"], state.losses[-1]["invariance"]
            assert last < 0.9 * first, (first, last)  # it learns the term it is given
        term[weight] = float(vicreg(_latents(trunk, inputs), _latents(trunk, other)))
    assert term[1.0] < term[0.0], term


def test_invariance_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="invariance must be >= 0"):
        PretrainConfig(invariance=-1.0)
