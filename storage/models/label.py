"""Labels: append-only. An edit is a new row that supersedes the old one."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class Label(Base):
    """One answer about one galaxy for one task, with who gave it and why it was asked.

    ``supersedes_id`` points at the label this one replaces (an edit or an undo); the
    current labels are those no other row supersedes. ``model_version_id`` and
    ``acquisition_score`` record what put the galaxy in front of the labeler, and
    ``idempotency_key`` makes a retried submission count once. ``status`` is ``answer``
    for a value, or ``skip``/``unsure``/``retracted`` where there is none.
    """

    __tablename__ = "labels"
    __table_args__ = (
        CheckConstraint("source IN ('expert', 'spectroscopy', 'oracle')", name="source"),
        CheckConstraint("status IN ('answer', 'skip', 'unsure', 'retracted')", name="status"),
        Index("ix_labels_task_galaxy", "task_id", "galaxy_id"),
    )

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    galaxy_id: Mapped[int] = mapped_column(ForeignKey("galaxies.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="answer")
    value: Mapped[float | None] = mapped_column(Float)
    class_index: Mapped[int | None] = mapped_column(Integer)
    stats: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    comment: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    ingest_id: Mapped[int | None] = mapped_column(ForeignKey("ingests.id"), index=True)
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("labels.id"), unique=True, index=True
    )
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    acquisition_score: Mapped[float | None] = mapped_column(Float)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
