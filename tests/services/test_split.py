"""The train / validation / test split: deterministic, stable as a survey grows."""

import numpy as np
import pytest

from app.services.data.split import assign_splits


def test_split_is_stable_as_galaxies_are_added_and_depends_on_the_seed():
    ids = [f"g{i}" for i in range(3000)]
    first = assign_splits(ids[:1000], seed=1)
    grown = assign_splits(ids, seed=1)
    np.testing.assert_array_equal(first, grown[:1000])
    np.testing.assert_array_equal(grown, assign_splits(ids, seed=1))
    assert np.mean(grown != assign_splits(ids, seed=2)) > 0.3


def test_split_fractions_are_about_70_10_20():
    splits = assign_splits([f"g{i}" for i in range(20000)], seed=0)
    fractions = [np.mean(splits == s) for s in ("train", "validation", "test")]
    np.testing.assert_allclose(fractions, [0.7, 0.1, 0.2], atol=0.015)


def test_bad_fractions_are_refused():
    with pytest.raises(ValueError, match="fractions"):
        assign_splits(["a"], fractions=(0.5, 0.6, 0.1))
