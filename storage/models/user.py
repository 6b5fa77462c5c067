"""People who label, plan and administer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


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


class WebSession(Base):
    """A browser's sign-in, kept in an HttpOnly cookie: the SHA-256 of its random token (the
    token itself is never stored), its user, when it ends, and when it was revoked (sign-out).
    ``delivered``: the token was exchanged for its cookie, which happens once."""

    __tablename__ = "web_sessions"

    token_key: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered: Mapped[bool] = mapped_column(default=False)
