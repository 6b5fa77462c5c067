"""Shared mock surveys, generated once per test session (small n keeps the suite fast)."""

import pytest

from app.mock import generate_survey


@pytest.fixture(scope="session")
def small_survey():
    """48 galaxies, half with spectra, in chunks of 16."""
    return list(generate_survey(48, seed=3, spectra_fraction=0.5, chunk_size=16))
