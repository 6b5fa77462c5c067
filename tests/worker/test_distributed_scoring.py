"""Scoring on a Dask LocalCluster gives the same scores as scoring in one process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from app.config import Settings
from app.services.loop.distributed import read_partition, score_pool_dask, write_partitions
from app.services.loop.scoring import SCREEN, score_pool
from storage.db import session_scope
from storage.models import ModelVersion, Score
from tests.worker.conftest import World


def _scores(settings: Settings, version_id: int) -> list[tuple]:
    engine = settings.engine()
    with session_scope(engine) as session:
        rows = session.execute(
            select(Score.task_id, Score.galaxy_id, Score.acquisition, Score.value, Score.mean,
                   Score.std)
            .where(Score.model_version_id == version_id)
            .order_by(Score.task_id, Score.galaxy_id, Score.acquisition)
        ).all()  # fmt: skip
    engine.dispose()
    return [tuple(r) for r in rows]


def _active(settings: Settings) -> int:
    engine = settings.engine()
    with session_scope(engine) as session:
        version_id = session.scalar(select(ModelVersion.id).where(ModelVersion.is_active))
    engine.dispose()
    return version_id


def test_dask_scores_equal_single_process_scores(world: World, tmp_path: Path) -> None:
    settings = world.copy(tmp_path)
    version_id = _active(settings)
    engine = settings.engine()
    n = score_pool(engine, settings.store(), settings.home, version_id, chunk=16)
    engine.dispose()
    single = _scores(settings, version_id)
    progress: list[tuple[int, int]] = []
    m = score_pool_dask(
        settings,
        version_id,
        workers=2,
        partition=32,
        chunk=16,
        on_partition=lambda done, total: progress.append((done, total)),
    )
    dask = _scores(settings, version_id)  # the Dask run replaced the single-process rows
    assert n == m == len(single) == len(dask) > 0
    assert [r[:3] for r in dask] == [r[:3] for r in single]
    for column in (3, 4, 5):
        a = np.array([r[column] for r in single], dtype=float)
        b = np.array([r[column] for r in dask], dtype=float)
        # Same arithmetic on the same float32 inputs in another process: equal to rounding.
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9, equal_nan=True)
    assert progress[-1] == (2, 2)  # 60 galaxies in partitions of 32


def test_partitions_round_trip_through_parquet(world: World, tmp_path: Path) -> None:
    from app.services.data.arrays import survey_refs

    engine = world.template.engine()
    with session_scope(engine) as session:
        refs = survey_refs(session, "mock")
    engine.dispose()
    paths = write_partitions(refs, tmp_path, partition=25)
    assert [p.name for p in paths] == ["part-00000.parquet", "part-00001.parquet",
                                       "part-00002.parquet"]  # fmt: skip
    parts = [read_partition(p) for p in paths]
    np.testing.assert_array_equal(np.concatenate([p.galaxy_id for p in parts]), refs.galaxy_id)
    for name in ("image", "spectrum", "photometry"):
        whole = getattr(refs, name)
        assert all(getattr(p, name).sources == whole.sources for p in parts)
        for field in ("source", "start", "length"):
            joined = np.concatenate([getattr(getattr(p, name), field) for p in parts])
            np.testing.assert_array_equal(joined, getattr(whole, field))


def test_partition_must_be_a_multiple_of_the_chunk(world: World, tmp_path: Path) -> None:
    settings = world.copy(tmp_path)
    with pytest.raises(ValueError, match="multiple of the chunk 16"):
        score_pool_dask(settings, _active(settings), partition=40, chunk=16)


def test_the_screen_flags_a_galaxy_whichever_chunk_reads_it(world: World, tmp_path: Path) -> None:
    # the colour test is fitted once to the pool, not to each chunk's galaxies
    settings = world.copy(tmp_path)
    version_id = _active(settings)
    flagged = []
    for chunk in (16, 64):
        engine = settings.engine()
        score_pool(engine, settings.store(), settings.home, version_id, chunk=chunk)
        engine.dispose()
        flagged.append({r[:2] for r in _scores(settings, version_id) if r[2] == SCREEN})
    assert flagged[0] == flagged[1] and flagged[0]
