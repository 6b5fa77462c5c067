"""The label route without a browser: who may send keys, what a batch writes, and that a
resent batch counts once (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.config import Settings
from app.services import web_sessions
from app.web import label_api, label_flow
from storage.db import session_scope
from storage.models import Label, Lease, Task, User


def token_of(settings: Settings, name: str) -> str:
    """A live sign-in token of user ``name``, as its cookie carries it."""
    engine = settings.engine()
    with session_scope(engine) as s:
        user_id = s.scalar(select(User.id).where(User.name == name))
        token = web_sessions.issue(s, user_id)
        web_sessions.deliver(s, token)
    engine.dispose()
    return token


def task_id(settings: Settings) -> int:
    engine = settings.engine()
    with session_scope(engine) as s:
        found = s.scalar(select(Task.id).where(Task.name == "morphology"))
    engine.dispose()
    return found


def post(settings: Settings, token: str | None, body: object) -> tuple[int, dict]:
    engine = settings.engine()
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        return label_api.answer(settings, engine, token, raw)
    finally:
        engine.dispose()


def labels(settings: Settings) -> list[tuple]:
    engine = settings.engine()
    with session_scope(engine) as s:
        found = s.execute(
            select(Label.galaxy_id, Label.status, Label.class_index, Label.comment)
            .where(Label.source == "expert")
            .order_by(Label.id)
        ).all()
    engine.dispose()
    return [tuple(r) for r in found]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"origin": "http://evil.example", "host": "127.0.0.1:8501"}, 403),
        ({"content_type": "text/plain"}, 415),
        ({"content_type": "application/x-www-form-urlencoded"}, 415),
        ({"size": label_api.MAX_BODY + 1}, 413),
    ],
)
def test_requests_from_elsewhere_or_not_json_are_refused_unread(headers: dict, status: int) -> None:
    same = "127.0.0.1:8501"
    request = {"origin": f"http://{same}", "host": same, "size": 10,
               "content_type": "application/json; charset=utf-8", **headers}  # fmt: skip
    assert label_api.refused(**request)[0] == status


def test_a_same_origin_json_request_is_let_through() -> None:
    assert label_api.refused(origin="http://127.0.0.1:8501", host="127.0.0.1:8501",
                             content_type="application/json", size=10) is None  # fmt: skip
    assert label_api.refused(origin=None, host=None, content_type="application/json",
                             size=None) is None  # fmt: skip


def test_without_a_live_session_nothing_is_read(app_settings: Settings) -> None:
    body = {"page": "p", "task": task_id(app_settings), "events": []}
    assert post(app_settings, None, body)[0] == 401
    assert post(app_settings, "not-a-token", body)[0] == 401
    token = token_of(app_settings, "ada")
    assert post(app_settings, token, b"{not json")[0] == 400
    assert post(app_settings, token, [1, 2])[0] == 400
    assert post(app_settings, token, {"page": "p", "task": 999_999})[0] == 400
    assert post(app_settings, token, {"page": "", "task": task_id(app_settings)})[0] == 400


def test_a_batch_of_keys_lands_in_order_and_a_resent_batch_counts_once(
    app_settings: Settings,
) -> None:
    token = token_of(app_settings, "bob")
    task = task_id(app_settings)
    status, first = post(app_settings, token, {"page": "p1", "task": task})
    assert status == 200 and first["applied"] == {"p1": 0} and first["empty"] is None
    # the first galaxy is always drawn; the others after the answer, for the next one
    assert len(first["cards"]) >= 1 and len(first["cards"]) + first["more"] == label_flow.HELD
    label_api.BUILDER.submit(lambda: None).result()  # the builder has caught up
    cards = post(app_settings, token, {"page": "p1", "task": task})[1]["cards"]
    assert len(cards) == label_flow.HELD and cards[0] == first["cards"][0]
    events = [
        {"page": "p1", "seq": 1, "key": "2", "lease": cards[0]["lease"], "comment": "arms"},
        {"page": "p1", "seq": 2, "key": "s", "lease": cards[1]["lease"]},
        {"page": "other", "seq": 3, "key": "1", "lease": cards[2]["lease"]},  # not this page's
    ]
    # a labeler asking for overlap 5 is held to 1; a look the page does not offer is ignored
    request = {"page": "p1", "task": task, "overlap": 5, "look": {"zoom": 7}, "events": events}
    status, reply = post(app_settings, token, request)
    assert status == 200 and reply["applied"] == {"p1": 2}
    assert [c["lease"] for c in reply["cards"]][:4] == [c["lease"] for c in cards[2:6]]
    found = labels(app_settings)
    assert [(s, c, m) for _, s, c, m in found] == [("answer", 1, "arms"), ("skip", None, None)]
    assert [text for _, text in reply["notices"]][-1].endswith("skipped")
    assert post(app_settings, token, request)[1]["applied"] == {"p1": 2}  # resent: nothing new
    assert labels(app_settings) == found
    engine = app_settings.engine()
    with session_scope(engine) as s:
        assert set(s.scalars(select(Lease.overlap))) == {1}
    engine.dispose()
