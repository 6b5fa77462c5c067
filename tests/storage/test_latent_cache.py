"""The latent cache: a reader only for a file that holds every galaxy, rows in the caller's
order, atomic publication, and a bounded number of files per survey."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from storage.latents import KEEP, LatentCache

DIGEST = "ab" * 32


def _write(cache: LatentCache, survey: int, digest: str, ids: np.ndarray) -> np.ndarray:
    z = np.arange(len(ids) * 6, dtype=np.float32).reshape(len(ids), 2, 3)
    writer = cache.writer(survey, digest)
    for part in np.array_split(np.arange(len(ids)), 3):  # appended chunk by chunk
        writer.append(ids[part], z[part], z[part, :, 0] > 10, ids[part] % 2 == 0)
    writer.commit()
    return z


def test_rows_come_back_in_the_order_asked(tmp_path: Path) -> None:
    cache = LatentCache(tmp_path)
    ids = np.array([5, 9, 2, 40, 7, 11])
    z = _write(cache, 1, DIGEST, ids)
    ask = np.array([40, 2, 9])
    reader = cache.reader(1, DIGEST, ask)
    assert reader is not None
    latents, mask, flagged = reader.read(ask)
    rows = [3, 2, 1]
    assert np.array_equal(latents, z[rows])
    assert np.array_equal(mask, z[rows, :, 0] > 10)
    assert np.array_equal(flagged, ask % 2 == 0)


def test_no_reader_unless_every_galaxy_is_held(tmp_path: Path) -> None:
    cache = LatentCache(tmp_path)
    _write(cache, 1, DIGEST, np.array([1, 2, 3]))
    assert cache.reader(1, DIGEST, np.array([1, 2, 3, 4])) is None  # a galaxy ingested since
    assert cache.reader(1, DIGEST, np.array([0])) is None
    assert cache.reader(2, DIGEST, np.array([1])) is None  # another survey
    assert cache.reader(1, "cd" * 32, np.array([1])) is None  # another trunk


def test_an_aborted_pass_leaves_nothing(tmp_path: Path) -> None:
    cache = LatentCache(tmp_path)
    writer = cache.writer(1, DIGEST)
    writer.append(np.array([1]), np.zeros((1, 2, 3)), np.ones((1, 2)), np.zeros(1))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_survey_keeps_its_newest_files(tmp_path: Path) -> None:
    cache = LatentCache(tmp_path)
    digests = [f"{i:02x}" * 32 for i in range(KEEP + 2)]
    for i, digest in enumerate(digests):
        _write(cache, 1, digest, np.array([1, 2]))
        os.utime(cache.path(1, digest), (1000 + i, 1000 + i))
    _write(cache, 2, DIGEST, np.array([1]))  # another survey's file is not counted
    kept = sorted(p.name for p in tmp_path.glob("1-*.h5"))
    assert len(kept) == KEEP and cache.path(1, digests[-1]).name in kept
    assert cache.path(2, DIGEST).exists()


def test_rows_that_disagree_and_odd_digests_are_refused(tmp_path: Path) -> None:
    cache = LatentCache(tmp_path)
    with pytest.raises(ValueError, match="digest"):
        cache.path(1, "../../etc")
    with pytest.raises(ValueError, match="disagree"):
        cache.writer(1, DIGEST).append(
            np.array([1, 2]), np.zeros((1, 2, 3)), np.ones((2, 2)), np.zeros(2)
        )
