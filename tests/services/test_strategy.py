"""choose_batch: default strategy, random control share and screen, on synthetic posteriors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.services.loop.strategy import (
    CONTROL_FRACTION,
    DEFAULT_STRATEGY,
    REGRESSION_STRATEGY,
    acquisition_values,
    choose_batch,
    default_strategy,
    screens,
)
from bayes import acquisition
from bayes.config import TaskConfig
from bayes.predict import Posterior

N, T, C = 400, 16, 4


def classification(seed: int = 0) -> Posterior:
    """N galaxies whose epistemic uncertainty grows with the index (BALD ranks them in order)."""
    rng = np.random.default_rng(seed)
    base = rng.dirichlet(np.ones(C), size=N)[:, None, :]
    noise = rng.dirichlet(np.ones(C), size=(N, T))
    w = np.linspace(0.0, 0.9, N)[:, None, None]
    probs = ((1 - w) * base + w * noise).astype(np.float32)
    return Posterior({"morph": probs}, {}, {}, {}, rng.normal(size=(N, 8)).astype(np.float32))


def regression(seed: int = 0) -> Posterior:
    rng = np.random.default_rng(seed)
    loc = rng.normal(size=(N, 1)) + np.linspace(0.01, 1.0, N)[:, None] * rng.normal(size=(N, T))
    scale = np.full((N, T), 0.3)
    return Posterior(
        {}, {}, {"z": loc.astype(np.float32)}, {"z": scale.astype(np.float32)}, np.zeros((N, 3))
    )


def test_defaults_are_stochastic_with_a_control_share() -> None:
    assert DEFAULT_STRATEGY not in ("bald", "entropy", "margin", "variation_ratios", "epig")
    assert DEFAULT_STRATEGY.startswith("power_") and 0 < CONTROL_FRACTION <= 0.2
    post = classification()
    batch = choose_batch(post, "morph", 50, np.random.default_rng(1))
    assert len(np.unique(batch.indices)) == 50 and batch.is_control.sum() == 5
    assert not batch.is_control[:45].any()  # active picks first, then the control
    again = choose_batch(post, "morph", 50, np.random.default_rng(1))
    np.testing.assert_array_equal(batch.indices, again.indices)
    other = choose_batch(post, "morph", 50, np.random.default_rng(2))
    assert set(batch.indices) != set(other.indices)  # power sampling, not top-k
    # ...that still favours informative galaxies: the active picks' BALD beats the pool's.
    bald = acquisition.bald(post.probs["morph"])
    assert bald[batch.indices[~batch.is_control]].mean() > 1.5 * bald.mean()
    np.testing.assert_allclose(batch.values, bald[batch.indices], rtol=1e-6)


def test_exclude_and_flagged_are_respected() -> None:
    post = classification()
    exclude = np.zeros(N, bool)
    exclude[::2] = True
    flagged = np.zeros(N, bool)
    flagged[300:] = True  # the most uncertain quarter, as outliers would be
    for seed in range(5):
        batch = choose_batch(
            post, "morph", 40, np.random.default_rng(seed), exclude=exclude, flagged=flagged,
            strategy="bald",
        )  # fmt: skip
        assert not exclude[batch.indices].any()
        assert not flagged[batch.indices[~batch.is_control]].any()
        assert batch.is_control.sum() == 4
    top = choose_batch(post, "morph", 36, np.random.default_rng(0), strategy="bald",
                       control_fraction=0.0, flagged=flagged)  # fmt: skip
    assert top.indices.min() >= 200 and top.indices.max() < 300  # the most uncertain unflagged


def test_screen_gives_way_when_too_few_are_left_and_k_is_capped() -> None:
    post = classification()
    flagged = np.ones(N, bool)
    batch = choose_batch(post, "morph", 20, np.random.default_rng(0), flagged=flagged)
    assert len(batch.indices) == 20
    exclude = np.ones(N, bool)
    exclude[:7] = False
    batch = choose_batch(post, "morph", 20, np.random.default_rng(0), exclude=exclude)
    assert sorted(batch.indices) == list(range(7))
    with pytest.raises(ValueError, match="no galaxy"):
        choose_batch(post, "morph", 5, np.random.default_rng(0), exclude=np.ones(N, bool))


@pytest.mark.parametrize("strategy", acquisition.STRATEGIES)
def test_every_strategy_runs_on_classification(strategy: str) -> None:
    post = classification()
    features = np.random.default_rng(1).normal(size=(N, 5))  # colour_herding's space
    batch = choose_batch(
        post, "morph", 10, np.random.default_rng(0), strategy=strategy, features=features
    )
    assert len(np.unique(batch.indices)) == 10 and np.isfinite(batch.values).all()
    if strategy == "random":
        assert batch.is_control.all()


@pytest.mark.parametrize(
    "strategy", ["random", "bald", "power_bald", "epig", "power_epig", "lcmd", "herding"]
)
def test_regression_strategies(strategy: str) -> None:
    post = regression()
    batch = choose_batch(post, "z", 30, np.random.default_rng(0), strategy=strategy)
    assert len(np.unique(batch.indices)) == 30
    values = acquisition_values(post, "z", "bald")
    if strategy == "bald":  # top-k on the epistemic spread, which grows with the index
        assert batch.indices[~batch.is_control].min() > N * 0.7
        np.testing.assert_allclose(batch.values, values[batch.indices])


@pytest.mark.parametrize("strategy", ["lcmd", "herding"])
def test_batch_diversity_starts_from_the_labelled_galaxies_and_the_control(strategy: str) -> None:
    rng = np.random.default_rng(5)
    post = regression()
    near, far = (
        rng.normal(0, 1, (N // 2, 3)),
        rng.normal(0, 1, (N // 2, 3)) + np.array([40.0, 0, 0]),
    )
    post = dataclasses.replace(post, embedding=np.concatenate([near, far]).astype(np.float32))
    blind = choose_batch(post, "z", 20, np.random.default_rng(0), strategy=strategy)
    labelled = rng.normal(0, 1, (300, 3))  # the near region is already labelled densely
    batch = choose_batch(
        post, "z", 20, np.random.default_rng(0), strategy=strategy, labelled_embedding=labelled
    )
    active = batch.indices[~batch.is_control]
    assert len(active) == 18 and len(np.unique(batch.indices)) == 20
    assert (active >= N // 2).sum() > (blind.indices[~blind.is_control] >= N // 2).sum()
    assert (active >= N // 2).mean() >= 0.75


def test_colour_herding_herds_in_the_colour_space_from_the_labelled_galaxies() -> None:
    rng = np.random.default_rng(6)
    post = regression()  # its embedding knows nothing of the two colour groups
    near, far = rng.normal(0, 1, (N // 2, 3)), rng.normal(0, 1, (N // 2, 3)) + np.array([8.0, 0, 0])
    features = np.concatenate([near, far])
    labelled = rng.normal(0, 1, (300, 3))  # the near group is already labelled densely
    batch = choose_batch(
        post,
        "z",
        20,
        np.random.default_rng(0),
        strategy="colour_herding",
        features=features,
        labelled_features=labelled,
    )
    active = batch.indices[~batch.is_control]
    assert len(active) == 18 and len(np.unique(batch.indices)) == 20
    assert (active >= N // 2).mean() >= 0.75
    with pytest.raises(ValueError, match="colour features"):
        choose_batch(post, "z", 5, np.random.default_rng(0), strategy="colour_herding")


def test_bad_arguments() -> None:
    post = classification()
    with pytest.raises(ValueError, match="unknown strategy"):
        choose_batch(post, "morph", 5, np.random.default_rng(0), strategy="greedy")
    with pytest.raises(ValueError, match="control_fraction"):
        choose_batch(post, "morph", 5, np.random.default_rng(0), control_fraction=1.5)
    with pytest.raises(ValueError, match="no task"):
        choose_batch(post, "z", 5, np.random.default_rng(0))


def test_the_screen_is_opt_in_and_never_hides_an_artifact_class() -> None:
    redshift = TaskConfig("redshift", "gaussian", transform="log1p")
    assert not screens(redshift) and screens(redshift, enabled=True)
    assert screens(TaskConfig("bar", "categorical", classes=("yes", "no")), enabled=True)
    morphology = TaskConfig("morphology", "categorical", classes=("spiral", "artifact"))
    assert not screens(morphology, enabled=True)


def test_the_default_follows_the_task_kind_as_measured_against_random() -> None:
    assert default_strategy(TaskConfig("m", "categorical", classes=("a", "b"))) == DEFAULT_STRATEGY
    # on real SDSS photo-z every active strategy lost to random (docs/real_data.md)
    assert default_strategy(TaskConfig("z", "student_t", transform="log1p")) == "random"
    assert REGRESSION_STRATEGY == "random"
    post = regression()
    picked = choose_batch(post, "z", 40, np.random.default_rng(3))
    as_random = choose_batch(post, "z", 40, np.random.default_rng(3), strategy="random")
    np.testing.assert_array_equal(picked.indices, as_random.indices)
    assert picked.is_control.all()  # a random batch is all control


def test_each_pick_says_how_much_likelier_than_uniform_its_draw_was() -> None:
    post = regression()
    exclude = np.zeros(N, bool)
    exclude[:7] = True
    batch = choose_batch(post, "z", 20, np.random.default_rng(3), strategy="power_bald",
                         exclude=exclude)  # fmt: skip
    control, active = batch.is_control, ~batch.is_control
    assert (batch.ratios[control] == 1).all()  # the control is a uniform draw
    # the active picks were drawn from the N - 7 - 2 galaxies left, prop. to BALD
    scores = acquisition_values(post, "z", "bald")
    left = np.ones(N, bool)
    left[:7] = False
    left[batch.indices[control]] = False
    first = batch.indices[active][0]
    assert batch.ratios[active][0] == pytest.approx(left.sum() * scores[first] / scores[left].sum())
    # a top-k pick is no random draw: nothing can undo its bias
    top = choose_batch(post, "z", 20, np.random.default_rng(3), strategy="bald")
    assert np.isnan(top.ratios[~top.is_control]).all() and (top.ratios[top.is_control] == 1).all()
