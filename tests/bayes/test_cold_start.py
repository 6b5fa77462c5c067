"""TypiClust cold start: one typical galaxy from each of the most populous unlabelled regions."""

from __future__ import annotations

import numpy as np
import pytest

from bayes.cold_start import typicality, typiclust

CENTRES = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])


def _blobs(sizes=(600, 300, 100), seed=0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + rng.normal(size=(n, 2)) for c, n in zip(CENTRES, sizes, strict=True)])
    return x, np.repeat(np.arange(len(sizes)), sizes)


def test_one_typical_galaxy_per_region_largest_first():
    x, blob = _blobs()
    picks = typiclust(x, 3, rng=np.random.default_rng(1))
    assert list(blob[picks]) == [0, 1, 2]  # every region once, by how many galaxies it holds
    # the most typical galaxy of a unit Gaussian lies near its centre: with 100+ points the
    # densest one is well inside 1 sigma, where a random member is at 1.25 sigma on average
    assert np.linalg.norm(x[picks] - CENTRES, axis=1).max() < 0.6
    first = typiclust(x, 1, rng=np.random.default_rng(1))
    assert blob[first[0]] == 0


def test_regions_already_labelled_come_last():
    x, blob = _blobs(sizes=(300, 300, 300))
    labelled = np.zeros(len(x), bool)
    labelled[np.flatnonzero(blob == 0)[0]] = True
    picks = typiclust(x, 2, labelled=labelled, rng=np.random.default_rng(2))
    assert sorted(blob[picks]) == [1, 2]  # three groups, the labelled one not picked again
    more = typiclust(x, 40, labelled=labelled, rng=np.random.default_rng(2))
    assert len(set(more)) == 40 and not labelled[more].any()


def test_typicality_is_highest_where_galaxies_are_dense():
    x, _ = _blobs(sizes=(400, 0, 0))
    t = typicality(x)
    r = np.linalg.norm(x, axis=1)
    assert np.corrcoef(t, r)[0, 1] < -0.8
    assert typicality(x[:1]).tolist() == [np.inf]


def test_bad_input_is_refused():
    x, _ = _blobs()
    with pytest.raises(ValueError, match=r"k must be within 1\.\.1000"):
        typiclust(x, 1001, rng=np.random.default_rng(0))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        typiclust(bad, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="labelled has shape"):
        typiclust(x, 2, labelled=np.zeros(5, bool), rng=np.random.default_rng(0))
