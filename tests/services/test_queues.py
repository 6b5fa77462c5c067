"""The label queue: power-sampled by BALD, with a random control share, in pick order."""

from __future__ import annotations

import numpy as np

from app.services.loop.queues import CONTROL, label_queue_entries


def test_queue_has_its_control_share_and_no_repeats() -> None:
    rng = np.random.default_rng(0)
    ids = np.arange(1000, 2000)
    scores = rng.gamma(1.0, 0.1, size=1000)
    entries = label_queue_entries(ids, scores, 100, rng=rng, control_fraction=0.1)
    assert len(entries) == 100 and len({e.galaxy_id for e in entries}) == 100
    assert sum(e.acquisition == CONTROL for e in entries) == 10
    assert [e.priority for e in entries] == sorted((e.priority for e in entries), reverse=True)
    assert all(e.acquisition_score == scores[e.galaxy_id - 1000] for e in entries)


def test_power_sampling_prefers_high_scores_without_being_top_k() -> None:
    # 50 galaxies with score 1.0 and 950 with 0.01: power sampling (beta = 1) picks a high one
    # with probability 50 / (50 + 9.5) = 0.84 per draw, so most picks are high but not only.
    scores = np.full(1000, 0.01)
    scores[:50] = 1.0
    picked = []
    for seed in range(20):
        entries = label_queue_entries(np.arange(1000), scores, 20, rng=np.random.default_rng(seed),
                                      control_fraction=0.0)  # fmt: skip
        picked += [e.galaxy_id for e in entries]
    high = np.mean(np.array(picked) < 50)
    assert 0.7 < high < 0.97  # 400 picks: about 0.84 minus depletion; top-k would give 1.0


def test_small_pools_are_queued_whole() -> None:
    entries = label_queue_entries(np.arange(5), np.ones(5), 200, rng=np.random.default_rng(1))
    assert sorted(e.galaxy_id for e in entries) == [0, 1, 2, 3, 4]


def test_flagged_galaxies_are_left_to_the_control() -> None:
    scores = np.ones(200)
    flagged = np.zeros(200, bool)
    flagged[:100] = True
    entries = label_queue_entries(np.arange(200), scores, 50, rng=np.random.default_rng(3),
                                  flagged=flagged, control_fraction=0.2)  # fmt: skip
    active = [e.galaxy_id for e in entries if e.acquisition != CONTROL]
    assert len(active) == 40 and min(active) >= 100  # no flagged galaxy among active picks
