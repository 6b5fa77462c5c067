"""Fit health on real SDSS photometry: a sound fit passes; a fit made to fail is caught."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from app.services.models.fit_health import activation_decision, baseline_predictions
from app.services.models.training import FittedModel, fit_checked
from bayes.config import ModelConfig, TaskConfig
from tests import sdss

TASK = TaskConfig("redshift", "student_t", transform="log1p")
N_TRAIN, N_VAL = 800, 400
# Small enough for the suite, long enough that the fit is sound: at 800 galaxies and 800
# steps the model's validation σ_NMAD is within noise of the random forest's.
CONFIG = ModelConfig(tasks=(TASK,), modalities=("photometry",), epochs=8, min_steps=800)


@pytest.fixture(scope="module")
def split():
    torch.set_num_threads(1)
    arrays, z = sdss.photometry(N_TRAIN + N_VAL, seed=3)
    train, val = np.arange(N_TRAIN), np.arange(N_TRAIN, N_TRAIN + N_VAL)
    return arrays.subset(train), z[train], arrays.subset(val), z[val]


def _fit(split, config: ModelConfig, z_train: np.ndarray | None = None) -> FittedModel:
    arrays, z, held_out, z_val = split
    targets = {"redshift": z if z_train is None else z_train}
    baseline = baseline_predictions(config, arrays, targets, held_out)
    return fit_checked(config, arrays, targets, held_out, {"redshift": z_val}, baseline,
                       None, "warm", None)  # fmt: skip


@pytest.fixture(scope="module")
def sound(split) -> FittedModel:
    return _fit(split, CONFIG)


def test_a_sound_fit_on_real_photometry_is_healthy(sound: FittedModel) -> None:
    assert sound.health.ok, sound.health.summary()
    names = {c.name for c in sound.health.checks}
    assert names == {"converged", "calibration", "coverage", "skill", "baseline"}
    assert sound.validation["redshift"]["sigma_nmad"] < 0.02


def test_an_absurd_learning_rate_is_caught(split) -> None:
    fitted = _fit(split, dataclasses.replace(CONFIG, lr=50.0))
    assert not fitted.health.ok
    failed = {c.name for c in fitted.health.failures()}
    assert "converged" in failed or "baseline" in failed, fitted.health.summary()


def test_shuffled_labels_are_caught(split) -> None:
    z = split[1]
    fitted = _fit(split, CONFIG, z_train=np.random.default_rng(0).permutation(z))
    assert not fitted.health.ok
    # its random forest, fitted on the same shuffled labels, is as lost: the skill check says it
    assert [c.name for c in fitted.health.failures()] == ["skill"], fitted.health.summary()


def test_a_version_worse_than_the_active_one_is_not_activated(split, sound) -> None:
    held_out, z_val = split[2], split[3]
    good = sound.model.predict(held_out)
    worse = sound.model.predict(held_out)
    # move every draw of the new version by 0.03 (1 + z) at random: σ_NMAD rises ~2x
    shift = 0.03 * np.random.default_rng(0).normal(size=len(z_val))[:, None]
    worse.draws["redshift"] = (1 + worse.draws["redshift"]) * (1 + shift) - 1
    targets = {"redshift": z_val}
    no = activation_decision(worse, good, targets, (TASK,), sound.health, old_name="v1")
    assert not no.activate and "worse than the active version" in no.reason
    assert no.n_validation == N_VAL and no.comparisons["redshift"]["worse"]
    yes = activation_decision(good, worse, targets, (TASK,), sound.health, old_name="v1")
    assert yes.activate and "not worse than v1" in yes.reason
    sick = dataclasses.replace(sound.health, checks=(*sound.health.checks[:1],
        dataclasses.replace(sound.health.checks[1], ok=False)))  # fmt: skip
    assert not activation_decision(good, None, targets, (TASK,), sick).activate
