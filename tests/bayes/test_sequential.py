"""Sequential updates: warm start and previous-posterior-as-prior."""

import numpy as np
import pytest
import torch

from bayes.model import GalaxyModel
from tests.bayes.conftest import small_config


def test_warm_start_continues_from_the_previous_fit(fitted, data):
    warm = GalaxyModel(small_config(epochs=0)).fit(data[0], data[1], init_from=fitted)
    a, b = (m.predict(data[2], samples=4).probs["morphology"] for m in (fitted, warm))
    assert np.array_equal(a, b)  # zero epochs: exactly the previous model
    assert torch.equal(warm.prior_.loc_scale("morphology")["weight"][0], torch.zeros(1, 16, 3))


def test_prior_update_uses_the_previous_posterior(fitted, data):
    before = {k: v.clone() for k, v in fitted.posterior_.state_dict().items()}
    new = GalaxyModel(small_config(epochs=1)).fit(
        data[2], data[3], init_from=fitted, update="prior"
    )
    for task in ("morphology", "redshift"):
        for site in ("weight", "bias"):
            p_loc, p_scale = new.prior_.loc_scale(task)[site]
            q_loc, q_scale = fitted.posterior_.loc_scale(task)[site]
            assert torch.equal(p_loc, q_loc) and torch.equal(p_scale, q_scale)
    for k, v in fitted.posterior_.state_dict().items():  # the previous model is untouched
        assert torch.equal(v, before[k])
    assert new.target_stats_ == fitted.target_stats_


def test_incompatible_previous_model_is_refused(fitted, data):
    with pytest.raises(ValueError, match="architecture"):
        GalaxyModel(small_config(latent_dim=8)).fit(data[0], data[1], init_from=fitted)
    with pytest.raises(ValueError, match="update"):
        GalaxyModel(small_config()).fit(data[0], data[1], init_from=fitted, update="both")
