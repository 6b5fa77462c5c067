"""Property: whatever the web forms send, the services answer cleanly, on both databases.

Sign-in (``app.web.session.check_password``, the form's path to ``authenticate``) returns a
user or None, never an exception. A label submission (``labeling.submit``) returns a label, or
raises a ValueError whose message starts with the bad field's name (PermissionError for
another user's lease) and changes no row. ``add_user`` accepts a name, role and password or
refuses them the same way, and every user it accepts can sign in through the form.

Each submit or add_user example draws one field from anything (all of Unicode, NUL, which
PostgreSQL text columns refuse, lone surrogates, huge and negative integers) and the others
from what the form sends, so every field is fuzzed and most examples reach the database.
The cases the fuzzing found (NUL, lone surrogates, names padded with whitespace) are pinned
below it, with the server's upload limit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, select

from app.services import auth
from app.services.followup import admin as followup_admin
from app.services.loop import labeling
from app.web.options import OPTIONS
from app.web.session import check_password
from storage.db import session_scope
from storage.models import Label, Lease, QueueItem, SignInFailure, User
from tests.queue_world import CLASSES, queue_world

QUEUE = 150
PASSWORDS = {"ada": "analytical engine", "bob": "difference engine"}
FUZZ = settings(
    max_examples=80,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any character, with NUL, lone surrogates (no UTF-8 form sends them, but a service must still
# refuse them cleanly), whitespace and SQL punctuation drawn often enough to matter.
CHARS = st.one_of(
    st.characters(),
    st.sampled_from(["\x00", "\ud800", "\udfff", " ", "\t", "\n", "'", '"', ";", "%", "\\"]),
)
WILD_TEXT = st.one_of(
    st.text(CHARS, max_size=2), st.text(CHARS, max_size=80), st.text(CHARS, min_size=60)
)
TYPED = st.characters(exclude_characters="\x00")  # what a person types into a text box
WILD_INT = st.one_of(
    st.integers(), st.sampled_from([-1, len(CLASSES), 2**31, 2**63, -(2**63) - 1, 10**30])
)


@pytest.fixture(autouse=True)
def _cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """New hashes at N=2**10 so examples take milliseconds; the parameters travel with each
    hash, so verification follows them (the unknown-user dummy hash keeps N=2**14)."""
    monkeypatch.setattr(auth, "SCRYPT_N", 2**10)


def _first_word(err: BaseException) -> str:
    """The field an error message is about: its first word."""
    return str(err).split(" ", 1)[0]


# --- sign-in -------------------------------------------------------------------------------


@pytest.fixture
def users(engine: Engine) -> dict[str, int]:
    """Two users with known passwords; name -> id."""
    with session_scope(engine) as session:
        return {n: auth.add_user(session, n, "labeler", p).id for n, p in PASSWORDS.items()}


NAME = st.one_of(
    WILD_TEXT,
    st.sampled_from(list(PASSWORDS)),
    st.tuples(st.sampled_from(["", " ", "\t", "\x00"]), st.sampled_from(list(PASSWORDS))).map(
        lambda t: t[0] + t[1] + t[0]
    ),
    st.text(st.characters(), min_size=65, max_size=300),
)


@given(name=NAME, password=st.one_of(WILD_TEXT, st.sampled_from(list(PASSWORDS.values()))))
@settings(FUZZ, max_examples=40)  # each unknown name costs a full scrypt
def test_sign_in_returns_a_user_or_none(
    engine: Engine, users: dict[str, int], name: str, password: str
) -> None:
    with session_scope(engine) as session:  # throttling has its own tests (test_auth.py)
        session.execute(delete(SignInFailure))
    signed = check_password(engine, name, password)  # what the sign-in form calls
    event("signed in" if signed else "refused")
    owner = name.strip()
    if owner in PASSWORDS and PASSWORDS[owner] == password:
        assert signed is not None and (signed.id, signed.name) == (users[owner], owner)
    else:
        assert signed is None
    with session_scope(engine) as session:  # the service itself, name unstripped
        user = auth.authenticate(session, name, password)
        assert (user is None) == (name not in PASSWORDS or PASSWORDS[name] != password)


# --- add_user ------------------------------------------------------------------------------


@dataclass
class Taken:
    """Names taken so far in this test's database."""

    names: set[str] = field(default_factory=lambda: set(PASSWORDS))


@pytest.fixture
def taken(users: dict[str, int]) -> Taken:
    return Taken()


def _user_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count(User.id)))


@given(wild=st.sampled_from([None, "name", "name", "role", "password"]), data=st.data())
@FUZZ
def test_add_user_adds_or_names_the_bad_field(
    engine: Engine, taken: Taken, wild: str | None, data: st.DataObject
) -> None:
    if wild == "name":
        name = data.draw(
            st.one_of(
                NAME,
                st.sampled_from(["a" * 64, "a" * 65, "é" * 64, "🌌" * 64, "x y", "Ada", "ada"]),
            ),
            "name",
        )
    else:
        name = data.draw(st.text(TYPED, min_size=1, max_size=64).map(str.strip), "name") or "x"
    role = data.draw(WILD_TEXT if wild == "role" else st.sampled_from(auth.ROLES), "role")
    password = data.draw(
        WILD_TEXT if wild == "password" else st.text(TYPED, min_size=8, max_size=100), "password"
    )
    bad = set()
    if (
        not name.strip()
        or len(name) > 64
        or name != name.strip()
        or not auth.storable(name)
        or name in taken.names
    ):
        bad.add("name")
    if role not in auth.ROLES:
        bad.add("role")
    if len(password) < auth.MIN_PASSWORD or not auth.storable(password.replace("\x00", "")):
        bad.add("password")
    before = _user_count(engine)
    try:
        with session_scope(engine) as session:
            user_id = auth.add_user(session, name, role, password).id
    except ValueError as err:
        event(f"ValueError: {_first_word(err)}")
        assert bad, f"refused a good user: {err}"
        assert _first_word(err) in bad, f"{err} (bad: {bad})"
        assert _user_count(engine) == before
        return
    event("added")
    assert not bad, f"accepted bad {bad}"
    taken.names.add(name)
    assert _user_count(engine) == before + 1
    with session_scope(engine) as session:  # throttling has its own tests (test_auth.py)
        session.execute(delete(SignInFailure))
    signed = check_password(engine, name, password)  # every user added can sign in
    assert signed is not None and (signed.id, signed.name, signed.role) == (user_id, name, role)
    assert check_password(engine, name, password + "!") is None


# --- submit --------------------------------------------------------------------------------


@dataclass
class World:
    """A task with a label queue, two labelers, and who used which idempotency key."""

    task_id: int
    version_id: int
    users: list[int]
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (user, label id)


@pytest.fixture
def world(engine: Engine) -> World:
    made = queue_world(engine, n=QUEUE, users=["labeler0", "labeler1"], score_step=0.01,
                       name="fuzz")  # fmt: skip
    return World(made.task_id, made.version_id, made.users)


def _state(engine: Engine) -> tuple[int, int, int]:
    """Label rows, closed leases and the sum of ``n_labels``: what a submission changes."""
    with session_scope(engine) as session:
        return (
            session.scalar(select(func.count(Label.id))),
            session.scalar(select(func.count(Lease.id)).where(Lease.status != "open")),
            session.scalar(select(func.coalesce(func.sum(QueueItem.n_labels), 0))),
        )


def _problems(
    w: World, user: int, owner: int, status: str, class_index: int | None, comment: str | None,
    key: str,
) -> set[str]:  # fmt: skip
    """The fields of a submission that are wrong, named as the error message names them."""
    bad = set()
    if status not in labeling.STATUSES:
        bad.add("status")
    if not key or len(key) > 64 or not auth.storable(key):
        bad.add("idempotency_key")
    elif key in w.keys and w.keys[key][0] != user:
        bad.add("idempotency_key")  # another labeler's key
    if comment is not None and not auth.storable(comment):
        bad.add("comment")
    if user != owner:
        bad.add("lease")
    if class_index is None:
        class_ok = status != "answer"  # an answer needs a class
    else:
        class_ok = status != "skip" and 0 <= class_index < len(CLASSES)
    if not class_ok:
        bad.add("class_index")
    return bad


def _form_class(status: str) -> st.SearchStrategy[int | None]:
    """What the label page sends with ``status``: a class key, or None."""
    if status == "skip":
        return st.none()
    keys = st.integers(0, len(CLASSES) - 1)
    return keys if status == "answer" else st.one_of(st.none(), keys)


@given(
    wild=st.sampled_from(
        [None, "status", "class_index", "comment", "idempotency_key", "retry", "lease"]
    ),
    data=st.data(),
)
@FUZZ
def test_submit_labels_or_names_the_bad_field(
    engine: Engine, world: World, wild: str | None, data: st.DataObject
) -> None:
    owner, other = world.users
    status = data.draw(
        WILD_TEXT if wild == "status" else st.sampled_from(labeling.STATUSES), "status"
    )
    class_index = data.draw(
        st.one_of(st.none(), WILD_INT) if wild == "class_index" else _form_class(status),
        "class_index",
    )
    comment = data.draw(
        WILD_TEXT if wild == "comment" else st.one_of(st.none(), st.text(TYPED, max_size=200)),
        "comment",
    )
    if wild == "idempotency_key":
        key = data.draw(WILD_TEXT, "key")
    elif wild == "retry" and world.keys:  # a double click or a resent request
        # Draw a plain index, not from the keys themselves: the key set grows across
        # examples, and a strategy built from it would replay differently (FlakyStrategy).
        pick = data.draw(st.integers(0, 10**6), "key index")
        key = sorted(world.keys)[pick % len(world.keys)]
    else:
        key = uuid.uuid4().hex  # the fresh key the label page makes for each galaxy shown
    user = other if wild == "lease" else owner
    shown = labeling.next_galaxy(engine, owner, world.task_id)
    assert shown is not None
    bad = _problems(world, user, owner, status, class_index, comment, key)
    before = _state(engine)
    try:
        label_id = labeling.submit(
            engine,
            user,
            shown.lease_id,
            status=status,
            idempotency_key=key,
            class_index=class_index,
            comment=comment,
        )
    except PermissionError:
        event("PermissionError")
        assert "lease" in bad
        assert _state(engine) == before
        return
    except ValueError as err:
        event(f"ValueError: {_first_word(err)}")
        assert bad - {"lease"}, f"refused a good submission: {err}"
        assert _first_word(err) in bad, f"{err} (bad: {bad})"
        assert _state(engine) == before  # nothing half-written
        return
    if key in world.keys:  # a retry: the first label stands, nothing is written
        event("retry answered with the first label")
        assert world.keys[key] == (user, label_id)
        assert not bad & {"status", "idempotency_key", "comment"}
        assert _state(engine) == before
        return
    event(f"label: {status}")
    assert not bad, f"accepted bad {bad}"
    world.keys[key] = (user, label_id)
    n_labels = 0 if status == "skip" else 1
    assert _state(engine) == (before[0] + 1, before[1] + 1, before[2] + n_labels)
    with session_scope(engine) as session:
        label = session.get_one(Label, label_id)
        lease = session.get_one(Lease, shown.lease_id)
    assert lease.status == ("released" if status == "skip" else "submitted")
    assert (label.user_id, label.galaxy_id, label.idempotency_key) == (owner, shown.galaxy_id, key)
    assert (label.status, label.class_index, label.comment) == (status, class_index, comment)
    assert (label.model_version_id, label.acquisition_score) == (
        world.version_id,
        shown.acquisition_score,
    )


# --- the edge cases found by fuzzing, pinned --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "password", "bad"),
    [
        ("a\x00b", "long enough", "name"),  # PostgreSQL text refuses NUL
        ("\ud800x", "long enough", "name"),  # not encodable as UTF-8
        (" carol", "long enough", "name"),  # the sign-in form strips names: could never sign in
        ("carol\n", "long enough", "name"),
        ("carol", "long\ud800enough", "password"),
    ],
    ids=["nul", "surrogate", "leading-space", "trailing-newline", "surrogate-password"],
)
def test_add_user_refuses_unstorable_text(
    engine: Engine, name: str, password: str, bad: str
) -> None:
    with pytest.raises(ValueError, match=f"^{bad} must"), session_scope(engine) as session:
        auth.add_user(session, name, "labeler", password)
    assert _user_count(engine) == 0


def test_nul_and_surrogates_are_refused_before_the_database(engine: Engine, world: World) -> None:
    with session_scope(engine) as session:
        auth.add_user(session, "ada", "labeler", "nul\x00in the password is fine")
    for name in ("ada\x00", "\x00", "ada\ud800"):
        assert check_password(engine, name, "nul\x00in the password is fine") is None
    assert check_password(engine, " ada ", "nul\x00in the password is fine") is not None
    owner = world.users[0]
    shown = labeling.next_galaxy(engine, owner, world.task_id)
    assert shown is not None
    for change, bad in [
        ({"comment": "two arms\x00"}, "comment"),
        ({"comment": "two arms\udfff"}, "comment"),
        ({"idempotency_key": "k\x00"}, "idempotency_key"),
    ]:
        kw = {"status": "answer", "class_index": 1, "idempotency_key": "k1", **change}
        with pytest.raises(ValueError, match=f"^{bad} must"):
            labeling.submit(engine, owner, shown.lease_id, **kw)  # type: ignore[arg-type]
    assert _state(engine) == (0, 0, 0)


def test_the_server_refuses_uploads_over_the_page_limit(tmp_path: Path) -> None:
    """The uploader's own ``max_upload_size`` binds only the browser; ``galactive serve``
    makes Streamlit's upload endpoint refuse bigger files (its default is 200 MB)."""
    assert OPTIONS["server.maxUploadSize"] * 2**20 == followup_admin.MAX_UPLOAD_BYTES
