"""Passwords and roles: scrypt hashes, sign-in on both databases, role checks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from app.services import auth
from storage.db import session_scope
from storage.models import User


def test_hash_describes_itself() -> None:
    scheme, n, r, p, salt, key = auth.hash_password("correct horse").split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(key)) == 32


def test_verify_right_wrong_and_malformed() -> None:
    stored = auth.hash_password("correct horse")
    assert auth.verify_password("correct horse", stored)
    assert not auth.verify_password("correct horse ", stored)
    assert not auth.verify_password("", stored)
    for bad in ["", "plain", stored.replace("scrypt", "bcrypt"), stored[:-8], "scrypt$1$2$3$4$5"]:
        assert not auth.verify_password("correct horse", bad)


def test_two_hashes_of_one_password_differ() -> None:
    a, b = auth.hash_password("same password"), auth.hash_password("same password")
    assert a != b and a.split("$")[4] != b.split("$")[4]
    assert auth.verify_password("same password", a) and auth.verify_password("same password", b)


def test_authenticate(engine: Engine) -> None:
    with session_scope(engine) as session:
        ada = auth.add_user(session, "ada", "admin", "analytical engine")
        assert ada.password_hash is not None and "analytical" not in ada.password_hash
    with session_scope(engine) as session:
        user = auth.authenticate(session, "ada", "analytical engine")
        assert user is not None and (user.id, user.role) == (ada.id, "admin")
        assert auth.authenticate(session, "ada", "difference engine") is None
        assert auth.authenticate(session, "bob", "analytical engine") is None


def test_unknown_users_cost_one_scrypt_like_known_ones(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as session:
        auth.add_user(session, "ada", "labeler", "analytical engine")
        session.add(User(name="nopass", role="labeler"))
    calls: list[int] = []
    scrypt = auth._scrypt

    def counted(*args: object) -> bytes:
        calls.append(1)
        return scrypt(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(auth, "_scrypt", counted)
    with session_scope(engine) as session:
        for name in ("ada", "bob", "nopass"):
            calls.clear()
            assert auth.authenticate(session, name, "wrong password") is None
            assert len(calls) == 1, name


def test_add_user_refuses_bad_input(engine: Engine) -> None:
    with session_scope(engine) as session:
        auth.add_user(session, "ada", "labeler", "analytical engine")
        for args, message in [
            (("ada", "labeler", "another password"), "name 'ada' is already taken"),
            (("bob", "owner", "another password"), "role must be one of"),
            (("bob", "labeler", "short"), "password must be at least 8"),
            (("", "labeler", "another password"), "name must be"),
        ]:
            with pytest.raises(ValueError, match=message):
                auth.add_user(session, *args)


def test_require_role() -> None:
    admin, labeler = User(name="a", role="admin"), User(name="l", role="labeler")
    auth.require_role(admin, "admin")
    auth.require_role(admin, "labeler")  # an admin may label
    auth.require_role(labeler, "labeler")
    with pytest.raises(PermissionError, match="user 'l' is a labeler; this needs admin"):
        auth.require_role(labeler, "admin")
    with pytest.raises(ValueError, match="role must be one of"):
        auth.require_role(admin, "root")


def test_sign_in_slows_then_locks_a_guessed_name(engine: Engine, caplog) -> None:
    with session_scope(engine) as session:
        auth.add_user(session, "ada", "admin", "analytical engine")
    t0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

    def attempt(password: str, seconds: float, client: str = "10.0.0.1") -> auth.SignIn:
        with session_scope(engine) as session:
            answer = auth.sign_in(session, "ada", password, client=client,
                                  now=t0 + timedelta(seconds=seconds))  # fmt: skip
            return auth.SignIn(answer.user and answer.user.name, answer.wait)  # type: ignore[arg-type]

    for i in range(auth.FREE_FAILURES):  # the first five cost nothing more
        assert attempt("guess", i) == auth.SignIn(None, 0.0)
    # the sixth is not even checked for 2 s, the right password included
    assert attempt("analytical engine", 4.5) == auth.SignIn(None, 1.5)
    t = 6.0
    for n in range(auth.FREE_FAILURES + 1, auth.LOCK_FAILURES + 1):  # then 4, 8, 16, 32 s apart
        assert attempt("guess", t).wait == 0.0  # failure n, at t
        last, t = t, t + 2 ** (n - auth.FREE_FAILURES + 1)
    # ten failures: locked for 15 minutes, whatever is typed, from any client; logged
    with caplog.at_level("WARNING", logger="app.services.auth"):
        assert attempt("analytical engine", last + 60, client="10.9.9.9").wait == 14 * 60
    assert "locked for 900 s after 10 failures" in caplog.text
    t = last + 15 * 60 + 1
    assert attempt("analytical engine", t) == auth.SignIn("ada", 0.0)
    assert attempt("guess", t + 1) == auth.SignIn(None, 0.0)  # the success cleared them


def test_sign_in_throttles_one_client_guessing_many_names(engine: Engine) -> None:
    with session_scope(engine) as session:
        auth.add_user(session, "ada", "admin", "analytical engine")
        now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
        for i in range(auth.LOCK_FAILURES):  # a minute apart: each waits out the delay before
            now += timedelta(minutes=1)
            assert auth.sign_in(session, f"user{i}", "x", client="10.0.0.2", now=now).wait == 0
        from_there = auth.sign_in(session, "ada", "analytical engine", client="10.0.0.2", now=now)
        from_elsewhere = auth.sign_in(session, "ada", "analytical engine", client="10.0.0.3",
                                      now=now)  # fmt: skip
        assert from_there.user is None and from_there.wait > 14 * 60
        assert from_elsewhere.user is not None and from_elsewhere.user.name == "ada"
