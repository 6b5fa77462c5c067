"""Browser sessions that survive a reload: a random token in an HttpOnly cookie, its SHA-256
in the database, revoked on sign-out.

The sign-in page cannot set an HttpOnly cookie itself (it talks over a websocket), so it
issues a token and sends the browser once to ``/galactive/session``, which trades the token
for the cookie (:func:`deliver`: once, within DELIVERY) and redirects to the page asked for.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import User, WebSession

LIFETIME = timedelta(hours=12)  # a working day of labelling; then sign in again
DELIVERY = timedelta(seconds=60)  # the token must be traded for its cookie within this


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue(session: Session, user_id: int, *, now: datetime | None = None) -> str:
    """A new session token for ``user_id`` (shown once; only its hash is stored)."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_key=_key(token), user_id=user_id, expires_at=now + LIFETIME,
                           created_at=now))  # fmt: skip
    session.flush()
    return token


def _live(session: Session, token: str, now: datetime) -> WebSession | None:
    row = session.scalar(select(WebSession).where(WebSession.token_key == _key(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row


def deliver(session: Session, token: str, *, now: datetime | None = None) -> bool:
    """Whether ``token`` may become a cookie now: live, issued within DELIVERY and not
    delivered before (a token seen in a URL cannot be replayed)."""
    now = now or datetime.now(UTC)
    row = _live(session, token, now)
    if row is None or row.delivered or now - row.created_at > DELIVERY:
        return False
    row.delivered = True
    return True


def user_of(session: Session, token: str, *, now: datetime | None = None) -> User | None:
    """The user a cookie's ``token`` signs in, or None (unknown, expired or revoked)."""
    row = _live(session, token, now or datetime.now(UTC))
    if row is None or not row.delivered:
        return None
    return session.get(User, row.user_id)


def revoke(session: Session, token: str, *, now: datetime | None = None) -> None:
    """End the session of ``token`` on the server: its cookie signs no one in any more."""
    row = session.scalar(select(WebSession).where(WebSession.token_key == _key(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
