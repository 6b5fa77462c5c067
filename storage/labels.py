"""Append-only labels: an edit or undo is a new row that supersedes the current one."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from storage.models import Label


def current_labels_query(task_id: int) -> Select[tuple[Label]]:
    """Labels of a task that no later label supersedes (answers, skips and unsure alike)."""
    newer = aliased(Label)
    return select(Label).where(
        Label.task_id == task_id,
        ~select(newer.id).where(newer.supersedes_id == Label.id).exists(),
    )


def supersede(session: Session, old: Label, **changes: object) -> Label:
    """Record an edit of ``old``: a new row with ``changes`` applied; ``old`` is untouched.

    Superseding a label that was already superseded is refused (ValueError): an edit
    must start from the current label, or two edits would fork the history.
    """
    newer = session.scalar(select(Label.id).where(Label.supersedes_id == old.id))
    if newer is not None:
        raise ValueError(f"label {old.id} was already superseded by label {newer}")
    fields = {
        "task_id": old.task_id,
        "galaxy_id": old.galaxy_id,
        "source": old.source,
        "status": old.status,
        "value": old.value,
        "class_index": old.class_index,
        "stats": old.stats,
        "comment": old.comment,
        "user_id": old.user_id,
        "model_version_id": old.model_version_id,
        "acquisition_score": old.acquisition_score,
    }
    fields.update(changes)
    label = Label(**fields, supersedes_id=old.id)
    session.add(label)
    session.flush()
    return label
