"""Trained model versions and the per-galaxy scores each one produced."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class ModelVersion(Base):
    """A fitted model: config, the labels it saw, metrics, and its checkpoint file.

    ``label_watermark`` is the largest label id in its training snapshot, so the snapshot
    can be rebuilt; at most one version per survey is active (enforced by the activation
    code under a lock, and checked by ``activated_at`` ordering).
    """

    __tablename__ = "model_versions"
    __table_args__ = (CheckConstraint("status IN ('training', 'ready', 'failed')", name="status"),)

    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="training")
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    label_watermark: Mapped[int | None] = mapped_column(Integer)
    n_labels: Mapped[int | None] = mapped_column(Integer)
    checkpoint: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=False)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Score(Base):
    """One model version's posterior summary and acquisition value for one galaxy and task."""

    __tablename__ = "scores"
    __table_args__ = (
        Index(
            "uq_scores_version_task_galaxy_acq",
            "model_version_id",
            "task_id",
            "galaxy_id",
            "acquisition",
            unique=True,
        ),
    )

    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    galaxy_id: Mapped[int] = mapped_column(ForeignKey("galaxies.id"), index=True)
    acquisition: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    mean: Mapped[float | None] = mapped_column(Float)
    std: Mapped[float | None] = mapped_column(Float)
