"""Labels are append-only on both databases: edits supersede, never overwrite."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from storage.db import session_scope
from storage.labels import current_labels_query, supersede
from storage.models import Galaxy, Ingest, Label, Survey, Task, User


def _setup(session) -> tuple[Task, Galaxy, User]:
    survey = Survey(name="s")
    session.add(survey)
    session.flush()
    ingest = Ingest(survey_id=survey.id, kind="test", source="unit")
    session.add(ingest)
    session.flush()
    galaxy = Galaxy(survey_id=survey.id, source_id="g1", ra=1.0, dec=2.0, ingest_id=ingest.id)
    task = Task(survey_id=survey.id, name="morphology", kind="classification",
                classes=["elliptical", "spiral"])  # fmt: skip
    user = User(name="ada", role="labeler")
    session.add_all([galaxy, task, user])
    session.flush()
    return task, galaxy, user


def test_edit_adds_a_row_and_the_old_one_stays(engine: Engine) -> None:
    with session_scope(engine) as session:
        task, galaxy, user = _setup(session)
        first = Label(task_id=task.id, galaxy_id=galaxy.id, source="expert", class_index=0,
                      value=0.0, user_id=user.id)  # fmt: skip
        session.add(first)
        session.flush()
        edit = supersede(session, first, class_index=1, value=1.0, comment="spiral arms")
        undo = supersede(session, edit, status="retracted", class_index=None, value=None)
    with session_scope(engine) as session:
        rows = session.scalars(select(Label).order_by(Label.id)).all()
        assert [(r.class_index, r.status) for r in rows] == [
            (0, "answer"), (1, "answer"), (None, "retracted")
        ]  # fmt: skip
        assert [r.supersedes_id for r in rows] == [None, first.id, edit.id]
        (current,) = session.scalars(current_labels_query(task.id)).all()
        assert current.id == undo.id and current.user_id == user.id
        with pytest.raises(ValueError, match=f"already superseded by label {edit.id}"):
            supersede(session, rows[0], class_index=1)


def test_two_edits_of_one_label_are_refused_by_the_database(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        task, galaxy, _ = _setup(session)
        first = Label(task_id=task.id, galaxy_id=galaxy.id, source="expert", class_index=0)
        session.add(first)
        session.flush()
        session.add_all([
            Label(task_id=task.id, galaxy_id=galaxy.id, source="expert", supersedes_id=first.id),
            Label(task_id=task.id, galaxy_id=galaxy.id, source="expert", supersedes_id=first.id),
        ])  # fmt: skip
        session.flush()
