"""Tasks (what is predicted) and hidden truth values (what oracle experiments reveal)."""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class Task(Base):
    """A classification over ``classes`` or a regression of ``target`` in ``unit``."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("kind IN ('classification', 'regression')", name="kind"),
        Index("uq_tasks_survey_name", "survey_id", "name", unique=True),
    )

    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    classes: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    target: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(32))


class Truth(Base):
    """A value the model must not see: simulation truth, or a simulated expert's answer.

    ``value`` is a float for regression or a class index for classification; ``stats``
    holds distribution statistics where the truth is itself a distribution (SFR).
    """

    __tablename__ = "truths"
    __table_args__ = (
        CheckConstraint("kind IN ('truth', 'simulated_expert')", name="kind"),
        Index("uq_truths_task_galaxy_kind", "task_id", "galaxy_id", "kind", unique=True),
    )

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    galaxy_id: Mapped[int] = mapped_column(ForeignKey("galaxies.id"), index=True)
    ingest_id: Mapped[int] = mapped_column(ForeignKey("ingests.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24), default="truth")
    value: Mapped[float] = mapped_column(Float)
    class_index: Mapped[int | None] = mapped_column(Integer)
    stats: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
