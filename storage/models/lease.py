"""Leases: which labeler was shown which label-queue item, until when, and how it ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class Lease(Base):
    """One labeler's hold on one queue item; the only record of who holds what.

    ``open`` until ``expires_at``, then ``submitted`` (an answer or unsure fills one of the
    item's ``overlap`` slots), ``released`` (skipped or left: the slot goes to someone else)
    or ``expired``. An ``open`` lease past ``expires_at`` is expired even before its status
    is rewritten. One row per (item, user): nobody is shown a galaxy twice.
    """

    __tablename__ = "leases"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'submitted', 'expired', 'released')", name="status"),
        CheckConstraint("overlap >= 1", name="overlap"),
        UniqueConstraint("queue_item_id", "user_id"),
        Index("ix_leases_user_status", "user_id", "status"),
    )

    queue_item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="open")
    overlap: Mapped[int] = mapped_column(Integer, default=1)
