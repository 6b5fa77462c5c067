"""Queue rebuilds replace pending items only, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from storage.db import session_scope
from storage.models import Galaxy, Ingest, QueueItem, Survey, Task
from storage.queues import QueueEntry, pending_items, replace_pending


def _galaxies(engine: Engine, n: int) -> tuple[int, list[int]]:
    with session_scope(engine) as session:
        survey = Survey(name="s")
        session.add(survey)
        session.flush()
        ingest = Ingest(survey_id=survey.id, kind="test", source="unit")
        task = Task(survey_id=survey.id, name="morphology", kind="classification",
                    classes=["e", "s"])  # fmt: skip
        session.add_all([ingest, task])
        session.flush()
        gals = [Galaxy(survey_id=survey.id, source_id=f"g{i}", ra=0.0, dec=0.0,
                       ingest_id=ingest.id) for i in range(n)]  # fmt: skip
        session.add_all(gals)
        session.flush()
        return task.id, [g.id for g in gals]


def test_rebuild_keeps_leased_and_done_items(engine: Engine) -> None:
    task_id, g = _galaxies(engine, 5)
    with session_scope(engine) as session:
        first = [QueueEntry(g[i], priority=10 - i, acquisition="bald") for i in range(4)]
        assert replace_pending(session, queue="label", task_id=task_id, model_version_id=None,
                               entries=first) == 4  # fmt: skip
    with session_scope(engine) as session:
        items = pending_items(session, queue="label", task_id=task_id)
        assert [i.galaxy_id for i in items] == g[:4]
        items[0].status, items[1].status = "leased", "done"
    with session_scope(engine) as session:
        second = [QueueEntry(gid, priority=p, acquisition="bald", acquisition_score=0.5)
                  for gid, p in [(g[4], 1.0), (g[0], 9.0), (g[2], 5.0), (g[4], 7.0)]]  # fmt: skip
        assert replace_pending(session, queue="label", task_id=task_id, model_version_id=None,
                               entries=second) == 2  # g0 leased, g4 repeated  # fmt: skip
    with session_scope(engine) as session:
        rows = session.execute(select(QueueItem.galaxy_id, QueueItem.status)).all()
        assert sorted(rows) == sorted([(g[0], "leased"), (g[1], "done"), (g[4], "pending"),
                                       (g[2], "pending")])  # fmt: skip
        assert [i.galaxy_id for i in pending_items(session, queue="label", task_id=task_id)] == [
            g[2], g[4]
        ]  # fmt: skip


def test_unknown_queue_is_refused(engine: Engine) -> None:
    task_id, _ = _galaxies(engine, 1)
    with pytest.raises(ValueError, match="queue must be one of"), session_scope(engine) as s:
        replace_pending(s, queue="telescope", task_id=task_id, model_version_id=None, entries=[])
