"""Work queues: galaxies waiting for an expert label or for spectroscopic follow-up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class QueueItem(Base):
    """A galaxy in a queue, with the priority and model version that put it there.

    Label items are leased to up to ``overlap`` labelers through ``Lease`` rows, the source
    of truth for who holds what (``storage/leases.py``); ``status`` sums them up (``pending``
    until first leased, then ``leased``, ``done`` once ``n_labels`` answers or unsure
    reach the overlap), and ``lease_owner_id``/``lease_expires_at`` stay unused. Follow-up items
    carry their exposure time and expected information gain.
    """

    __tablename__ = "queue_items"
    __table_args__ = (
        CheckConstraint("queue IN ('label', 'followup')", name="queue"),
        CheckConstraint(
            "status IN ('pending', 'leased', 'done', 'observed', 'retired')", name="status"
        ),
        Index("ix_queue_items_next", "queue", "task_id", "status", "priority"),
    )

    queue: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    galaxy_id: Mapped[int] = mapped_column(ForeignKey("galaxies.id"), index=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    priority: Mapped[float] = mapped_column(Float)
    acquisition: Mapped[str | None] = mapped_column(String(32))
    acquisition_score: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    lease_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    n_labels: Mapped[int] = mapped_column(Integer, default=0)
    exposure_s: Mapped[float | None] = mapped_column(Float)
    expected_gain: Mapped[float | None] = mapped_column(Float)
