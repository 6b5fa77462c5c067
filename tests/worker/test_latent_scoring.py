"""Rescoring from the latent cache gives the rows a full pass gives, without the trunk."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.services.loop import scoring
from app.services.loop.scoring import score_pool
from tests.worker.conftest import World
from tests.worker.test_distributed_scoring import _active, _scores


def test_a_pass_from_cached_latents_writes_the_same_scores(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world.copy(tmp_path)
    version_id = _active(settings)
    engine = settings.engine()
    cache = settings.latents()
    try:
        score_pool(engine, settings.store(), settings.home, version_id, chunk=16)
        plain = _scores(settings, version_id)
        score_pool(engine, settings.store(), settings.home, version_id, chunk=16, cache=cache)
        assert _scores(settings, version_id) == plain  # writing the cache changes nothing
        assert len(list(cache.root.glob("*.h5"))) == 1

        def no_pixels(*args, **kwargs):
            raise AssertionError("a pass from cached latents read the arrays")

        monkeypatch.setattr(scoring, "load_arrays", no_pixels)
        score_pool(engine, settings.store(), settings.home, version_id, chunk=16, cache=cache)
    finally:
        engine.dispose()
    assert _scores(settings, version_id) == plain  # every value, bit for bit, screen included
