"""People who label, plan and administer."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class User(Base):
    """A named user with a role; ``password_hash`` is a standard KDF string, never a password."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'labeler')", name="role"),)

    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))


class SignInFailure(Base):
    """One failed sign-in: SHA-256 keys of the name tried and of the client, so throttling can
    count failures per user and per client without storing what was typed (``created_at``)."""

    __tablename__ = "sign_in_failures"

    name_key: Mapped[str] = mapped_column(String(64), index=True)
    client_key: Mapped[str] = mapped_column(String(64), index=True)
