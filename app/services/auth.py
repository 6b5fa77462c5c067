"""Users and passwords: scrypt hashes, sign-in that leaks nothing by its timing, role checks.

A hash is stored as ``scrypt$N$r$p$<salt>$<key>`` (base64), so its parameters travel with it
and can be raised later without breaking old hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.models import SignInFailure, User

log = logging.getLogger(__name__)

ROLES = ("admin", "labeler")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` as a self-describing string."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return _format(salt, key)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``, compared in constant time; False if malformed."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key, validate=True)
        if len(expected) != KEY_BYTES:
            return False
        actual = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def add_user(session: Session, name: str, role: str, password: str) -> User:
    """A new user with a hashed password; ValueError naming the field for a bad name, role,
    password, or a name already taken. Flushes but does not commit."""
    if not name.strip() or len(name) > 64:
        raise ValueError(f"name must be 1 to 64 characters, got {name!r}")
    if name != name.strip():
        # The sign-in form strips the name it sends, so such a user could never sign in.
        raise ValueError(f"name must not start or end with whitespace, got {name!r}")
    if not storable(name):
        raise ValueError(f"name must be text without NUL characters or lone surrogates: {name!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password must be at least {MIN_PASSWORD} characters")
    try:
        password.encode()
    except UnicodeEncodeError:
        raise ValueError("password must be text without lone surrogates") from None
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise ValueError(f"name {name!r} is already taken")
    user = User(name=name, role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The user ``name`` if ``password`` is theirs, else None.

    An unknown name (or a user without a password) costs one scrypt against a dummy hash,
    like a known one, so the answer's timing does not tell which names exist.
    """
    # A name no column can hold (PostgreSQL refuses NUL) belongs to nobody: no query, no error.
    user = session.scalar(select(User).where(User.name == name)) if storable(name) else None
    stored = user.password_hash if user is not None else None
    ok = verify_password(password, stored or _DUMMY_HASH)
    return user if ok and stored is not None else None


def require_role(user: User, role: str) -> None:
    """PermissionError unless ``user`` may act as ``role``; an admin may act as any role."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if user.role != role and user.role != "admin":
        raise PermissionError(f"user {user.name!r} is a {user.role}; this needs {role}")


def storable(text: str) -> bool:
    """Whether ``text`` fits a text column on every backend: UTF-8 encodable, without NUL."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES)


def _format(salt: bytes, key: bytes) -> str:
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(key).decode()}"


# Verified against when there is no real hash: same parameters, so the same cost; no password
# derives an all-zero key (but with odds of 2**-256).
_DUMMY_HASH = _format(bytes(SALT_BYTES), bytes(KEY_BYTES))


# Throttling: the first FREE_FAILURES failures within WINDOW cost nothing more; each one after
# doubles the wait before the next attempt is even checked (2, 4, 8 ... s by default, see
# first_delay; at most MAX_DELAY); from LOCK_FAILURES on, the name (or the client) is locked
# for LOCK. Counted per user name and per client, so neither guessing one account from many
# clients nor many accounts from one client goes fast. A lock can be set off by someone else
# guessing: it is temporary, logged, and cleared by the next successful sign-in of that user.
FREE_FAILURES, LOCK_FAILURES = 5, 10
WINDOW, LOCK, MAX_DELAY = timedelta(minutes=15), timedelta(minutes=15), timedelta(minutes=2)


def first_delay() -> float:
    """Seconds held back after the FREE_FAILURES-th failure (then doubling): 2, or
    GALACTIVE_SIGN_IN_DELAY for a site that wants it slower."""
    return float(os.environ.get("GALACTIVE_SIGN_IN_DELAY", "2"))


@dataclass(frozen=True)
class SignIn:
    """The answer to a sign-in: the user, or None; ``wait`` > 0 when the attempt was not
    checked at all because of earlier failures (seconds until the next one will be)."""

    user: User | None
    wait: float = 0.0


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _wait(session: Session, column: Any, key: str, now: datetime) -> float:
    since = now - WINDOW
    n, last = session.execute(
        select(func.count(), func.max(SignInFailure.created_at)).where(
            column == key, SignInFailure.created_at > since
        )
    ).one()
    if n < FREE_FAILURES or last is None:
        return 0.0
    doubling = timedelta(seconds=first_delay() * 2 ** (n - FREE_FAILURES))
    delay = LOCK if n >= LOCK_FAILURES else min(doubling, MAX_DELAY)
    return max(0.0, (last + delay - now).total_seconds())


def sign_in(
    session: Session, name: str, password: str, *, client: str, now: datetime | None = None
) -> SignIn:
    """:func:`authenticate`, throttled per user name and per client (``client``: the address
    the attempt came from). Failures are recorded; a success clears the user's."""
    now = now or datetime.now(UTC)
    name_key, client_key = _key(name), _key(client)
    wait = max(
        _wait(session, SignInFailure.name_key, name_key, now),
        _wait(session, SignInFailure.client_key, client_key, now),
    )
    if wait > 0:
        return SignIn(None, wait)
    user = authenticate(session, name, password)
    if user is None:
        session.add(SignInFailure(name_key=name_key, client_key=client_key, created_at=now))
        session.flush()
        for column, key, what in ((SignInFailure.name_key, name_key, "name"),
                                  (SignInFailure.client_key, client_key, "client")):  # fmt: skip
            if (locked := _wait(session, column, key, now)) >= LOCK.total_seconds() - 1:
                log.warning("sign-in: %s %s locked for %.0f s after %d failures",
                            what, key[:12], locked, LOCK_FAILURES)  # fmt: skip
        return SignIn(None)
    session.execute(delete(SignInFailure).where(SignInFailure.name_key == name_key))
    return SignIn(user)
