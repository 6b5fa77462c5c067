"""Passwords and roles: scrypt hashes, sign-in on both databases, role checks."""

from __future__ import annotations

import base64

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
