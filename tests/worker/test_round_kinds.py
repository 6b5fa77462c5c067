"""Heads-only and full retrain rounds: which one runs, what it keeps, the fall-back, and the
step floor every fit of the train service gets."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.config import Settings
from app.services.loop import retrain
from app.services.loop.retrain import active_version
from app.services.loop.rounds import HEADS_GROWTH, MAX_HEADS_ROUNDS, choose_round
from app.services.models import new_version
from app.services.models.versions import load_version
from app.worker import WorkerOptions, run_worker
from bayes.config import MIN_STEPS
from bayes.latents import trunk_digest
from storage.db import session_scope
from storage.models import Job, ModelVersion
from tests.worker.conftest import World, add_expert_labels, galactive


def _round(settings: Settings, *args: str) -> tuple[str, ModelVersion]:
    """Queue a retrain with ``args``, run it in process; (its message, the newest version)."""
    galactive(settings, "retrain", "--epochs", "1", "--min-steps", "0", *args)
    assert run_worker(settings, WorkerOptions(once=True, survey="mock")) == 1
    engine = settings.engine()
    with session_scope(engine) as session:
        message = session.scalars(select(Job.message).order_by(Job.id.desc())).first()
        version = session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())).first()
        session.expunge(version)
    engine.dispose()
    return message, version


def _digest(settings: Settings, version: ModelVersion) -> str:
    return trunk_digest(load_version(settings.home, version.checkpoint).base)


def test_heads_rounds_keep_the_trunk_and_rescore_from_cached_latents(
    world: World, tmp_path: Path
) -> None:
    settings = world.copy(tmp_path)
    engine = settings.engine()
    with session_scope(engine) as session:
        parent = active_version(session, "mock")
        session.expunge(parent)
    engine.dispose()
    first, v1 = _round(settings, "--round", "heads")
    assert first.startswith(f"{v1.name} active"), first
    assert "Heads-only round (a heads-only round was asked for" in first
    assert "pool scored with trunk and heads" in first  # nothing cached yet: the pass caches
    assert v1.config["round"]["kind"] == "heads"
    assert v1.config["round"]["trunk_version"] == parent.id
    assert _digest(settings, v1) == _digest(settings, parent)
    second, v2 = _round(settings, "--round", "heads")
    assert "pool scored with heads only, from cached latents" in second, second
    assert v2.config["round"]["heads_rounds"] == 2
    assert _digest(settings, v2) == _digest(settings, parent)
    full, v3 = _round(settings, "--round", "full")
    assert "Full round (a full round was asked for)" in full and "trunk and heads" in full
    assert _digest(settings, v3) != _digest(settings, parent)


def test_a_heads_round_not_good_enough_is_followed_by_a_full_round(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world.copy(tmp_path)
    decide = retrain._decision

    def strict(engine, version_id):  # as if every heads-only fit were worse than the active one
        if retrain._round(engine, version_id) == "heads":
            return {"activate": False, "reason": "worse than the active version"}
        return decide(engine, version_id)

    monkeypatch.setattr(retrain, "_decision", strict)
    message, version = _round(settings, "--round", "heads")
    assert "Heads-only round not enough (mock-v" in message, message
    assert version.config["round"]["kind"] == "full" and version.is_active
    engine = settings.engine()
    with session_scope(engine) as session:
        rejected = session.scalars(
            select(ModelVersion).where(ModelVersion.id == version.id - 1)
        ).one()
        assert rejected.config["round"]["kind"] == "heads" and not rejected.is_active
    engine.dispose()


def test_auto_keeps_the_trunk_while_the_new_labels_are_few(world: World, tmp_path: Path) -> None:
    settings = world.copy(tmp_path)
    engine = settings.engine()
    try:
        with session_scope(engine) as session:
            parent = active_version(session, "mock")
            assert choose_round(session, "mock", parent).kind == "heads"
            assert choose_round(session, "mock", parent, "full").kind == "full"
            assert choose_round(session, "mock", None).kind == "full"
            n = int(parent.n_labels)
            tired = {"kind": "heads", "trunk_version": parent.id, "trunk_labels": n,
                     "heads_rounds": MAX_HEADS_ROUNDS}  # fmt: skip
            parent.config = {**parent.config, "round": tired}
            choice = choose_round(session, "mock", parent)
            assert choice.kind == "full" and "heads-only rounds" in choice.reason
            session.rollback()
        add_expert_labels(settings, int(HEADS_GROWTH * n) + 1, seed=3)
        with session_scope(engine) as session:
            choice = choose_round(session, "mock", active_version(session, "mock"))
        assert choice.kind == "full" and "more than 50% new" in choice.reason, choice
    finally:
        engine.dispose()


def test_the_train_service_fits_with_the_product_step_floor(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``train`` without ``min_steps`` fits with MIN_STEPS, not the library's 0 (a caller who
    forgot it got an undertrained fit that the health check then refused)."""
    seen = []

    def record(store, data, config, **kwargs):
        seen.append(config.min_steps)
        raise RuntimeError("stop before fitting")

    monkeypatch.setattr(new_version, "fit_calibrated", record)
    settings = world.copy(tmp_path)
    for given in ({}, {"min_steps": 5}):
        with pytest.raises(RuntimeError, match="stop before fitting"):
            new_version.train(settings, "mock", source="labels", **given)
    assert seen == [MIN_STEPS, 5]
