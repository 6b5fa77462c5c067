"""Fixtures for bayes tests: one thread, a clean Pyro param store, small fitted models."""

from __future__ import annotations

import numpy as np
import pyro
import pytest
import torch

from bayes.config import ModelConfig, TaskConfig
from bayes.model import GalaxyModel
from tests.bayes.synthetic import CLASSES, survey

torch.set_num_threads(1)

TASKS = (
    TaskConfig("morphology", "categorical", classes=CLASSES),
    TaskConfig("redshift", "gaussian", transform="log1p"),
)


@pytest.fixture(autouse=True)
def _clean_param_store():
    """Nothing in bayes should touch Pyro's global store; clear it anyway around every test."""
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


def small_config(**kw) -> ModelConfig:
    """A fast configuration for 16x16 cutouts and short spectra."""
    base = dict(tasks=TASKS, image_channels=(8, 16), latent_dim=16, epochs=3, batch_size=32)
    return ModelConfig(**{**base, **kw})


@pytest.fixture(scope="session")
def data():
    """(train arrays, train targets, test arrays, test targets) of a small synthetic survey."""
    rng = np.random.default_rng(0)
    return (*survey(160, rng), *survey(40, rng))


@pytest.fixture(scope="session")
def fitted(data) -> GalaxyModel:
    """A briefly trained feature-fusion model (enough for shapes, checkpoints, determinism)."""
    return GalaxyModel(small_config()).fit(data[0], data[1])
