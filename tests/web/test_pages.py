"""The web app through ``streamlit.testing`` on SQLite and PostgreSQL: the sign-in gate and the
label page, with what each click writes to the database."""

from __future__ import annotations

import itertools
import json
import re
import statistics
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app.config import Settings, resolve
from app.mock.tasks import MORPHOLOGY_CLASSES
from app.services.data.class_names import display_name
from app.web import keys, label_api, label_flow
from app.web.label_card import Look
from app.web.label_flow import HELD, KeyEvent
from storage.db import session_scope
from storage.labels import current_labels_query
from storage.models import Galaxy, Label, Lease, ModelVersion, QueueItem, Spectrum, Task, User
from tests.web.conftest import PASSWORDS
from tests.web.markdown import shown

MAIN = Path(__file__).resolve().parents[2] / "app" / "web" / "main.py"
SUBMIT = "FormSubmitter:sign_in-Sign in"
SEQ = itertools.count(1)  # the keys' numbers
REPLIES: list[dict] = []  # the label route's answers


def open_app() -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    return at.run()


def sign_in(name: str, password: str) -> AppTest:
    at = open_app()
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    return at.button(key=SUBMIT).click().run()


def open_page(name: str, page: str) -> AppTest:
    """Sign in as ``name`` and switch to ``page`` (e.g. "views/models.py")."""
    at = sign_in(name, PASSWORDS[name])
    at.switch_page(page).run()
    assert not at.exception
    return at


def deck(at: AppTest) -> dict:
    """What the label deck was sent in the last run: cards, buttons, notices, applied keys."""
    (component,) = [e for e in at.main if getattr(e, "type", None) == "bidi_component"]
    return json.loads(component.proto.json)


def press(at: AppTest, label: str, *, comment: str = "") -> AppTest:
    """Press the deck's button whose text is ``label`` (e.g. "[2] spiral") on the galaxy it
    shows, as its browser side sends it to the label route, and rerun the page."""
    sent = deck(at)
    (key,) = [b["key"] for b in sent["buttons"] if b["text"] == label]
    lease = None if key == keys.UNDO else sent["cards"][0]["lease"]
    request = sent["request"]
    settings = resolve()
    engine = settings.engine()
    with session_scope(engine) as s:
        (task,) = [t for t in label_flow.classification_tasks(s) if t.id == request["task"]]
    page = f"apptest-{id(at)}"  # one browser page per AppTest session
    event = KeyEvent(page, next(SEQ), key, lease, comment)
    user = at.session_state["user"]
    REPLIES.append(
        label_api.apply(settings, engine, user.id, page, task, request["overlap"], [event], Look())
    )
    engine.dispose()
    return at.run()


def heading(at: AppTest) -> str:
    """The heading of the galaxy the deck shows."""
    return deck(at)["cards"][0]["heading"]


def notices() -> list[str]:
    """The messages of the label route's last answer."""
    return [text for _, text in REPLIES[-1]["notices"]]


def rows(settings: Settings, stmt) -> list:
    engine = settings.engine()
    with session_scope(engine) as session:
        out = session.execute(stmt).all()
    engine.dispose()
    return out


def user_id(settings: Settings, name: str) -> int:
    return rows(settings, select(User.id).where(User.name == name))[0][0]


def labels_of(settings: Settings, name: str) -> list:
    return rows(
        settings,
        select(Label.id, Label.galaxy_id, Label.status, Label.class_index, Label.comment,
               Label.model_version_id, Label.acquisition_score, Label.idempotency_key,
               Label.supersedes_id)
        .where(Label.user_id == user_id(settings, name))
        .order_by(Label.id),
    )  # fmt: skip


def test_anonymous_visitor_sees_only_the_sign_in_form(app_settings: Settings) -> None:
    at = open_app()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert not at.subheader and not at.sidebar.children  # no galaxy, no task, no user
    text = " ".join(m.value for m in at.markdown)
    assert "mock0" not in text and "morphology" not in text
    with pytest.raises(ValueError, match=r"not a registered page|Could not find"):
        at.switch_page("views/label.py")  # the label page is not routable before sign-in


@pytest.mark.parametrize(("name", "password"), [("ada", "wrong-password"), ("eve", "ada-password")])
def test_a_wrong_password_or_unknown_user_is_refused(
    app_settings: Settings, name: str, password: str
) -> None:
    at = sign_in(name, password)
    assert [e.value for e in at.error] == ["Unknown user name or wrong password."]
    assert "user" not in at.session_state
    assert not at.subheader and [b.label for b in at.button] == ["Sign in"]


def test_sign_in_shows_a_galaxy_with_composite_posterior_and_reason(
    app_settings: Settings,
) -> None:
    at = sign_in("ada", PASSWORDS["ada"])
    assert not at.exception
    sent = deck(at)
    cards = sent["cards"]
    assert len(cards) == HELD  # the galaxy shown and the next ones, drawn ahead
    assert len({c["lease"] for c in cards}) == HELD
    card = cards[0]
    assert card["heading"].startswith("mock") and card["heading"].endswith("· morphology")
    assert card["image"].startswith("data:image/jpeg;base64,") and len(card["bands"]) == 5
    assert "mock-v2: mean and 16–84% range over 32 posterior samples" in card["model"]
    assert [b["name"] for b in card["bars"]][:2] == ["elliptical", "spiral"]
    assert all(0 <= b["low"] <= b["mean"] <= b["high"] <= 1 for b in card["bars"])
    why = card["why"]
    assert "mock-v2" in why and re.search(r"higher than \d+% of the pool", why)
    assert "power sampling" in why or "random control" in why
    # the mock's cutouts are north up, east left, 0.396" pixels: a 25" field, a 5" bar
    assert card["image_caption"].endswith("bar 5″; N and E from the cutout's WCS, north up")
    assert [b.label for b in at.sidebar.button] == ["Sign out"]
    labels = [b["text"] for b in sent["buttons"]]
    assert {"[1] elliptical", "[2] spiral", "[6] artifact", "[u] Unsure", "[s] Skip",
            "[n] Next", "[z] Undo"} <= set(labels)  # fmt: skip
    assert at.number_input(key="overlap").value == 1  # admins may change the overlap
    if card["spectrum"] is not None:  # and the spectrum in detail below the deck
        source = card["heading"].split(" ·")[0]
        assert shown(at.expander[0].label) == f"Spectrum of {source} in detail: zoom, smoothing"
    else:
        assert card["redshift"] == "No spectrum for this galaxy." and not at.expander


def test_spectrum_lines_sit_at_the_measured_redshift(app_settings: Settings) -> None:
    at = sign_in("ada", PASSWORDS["ada"])
    for _ in range(25):  # pass until a galaxy with a spectrum comes up
        if len(at.get("vega_lite_chart")) == 1:
            break
        at = press(at, "[n] Next")
    (spectrum,) = at.get("vega_lite_chart")
    source = heading(at).split(" ·")[0]
    ((z,),) = rows(
        app_settings,
        select(Spectrum.redshift).join(Galaxy, Galaxy.id == Spectrum.galaxy_id)
        .where(Galaxy.source_id == source),
    )  # fmt: skip
    marks = json.loads(spectrum.proto.spec)["layer"][1]["data"]["values"]
    assert marks and all(m["wavelength"] == pytest.approx(m["rest"] * (1 + z), abs=0.06)
                         for m in marks)  # fmt: skip
    captions = shown(" ".join(c.value for c in at.caption))
    assert f"Lines at the measured redshift z = {z:.4f} (spectroscopic)" in captions


def test_a_labeler_cannot_change_the_overlap(app_settings: Settings) -> None:
    at = sign_in("bob", PASSWORDS["bob"])
    assert not at.exception and heading(at).startswith("mock")
    assert not at.number_input


def test_a_class_button_writes_the_label_with_user_version_and_score(
    app_settings: Settings,
) -> None:
    at = sign_in("ada", PASSWORDS["ada"])
    first = heading(at)
    press(at, "[2] spiral", comment="two arms")
    assert not at.exception
    assert heading(at) != first  # the next galaxy is shown
    assert notices() == [f"{first.split(' ·')[0]} labelled spiral"]
    (label,) = labels_of(app_settings, "ada")
    item = rows(
        app_settings,
        select(QueueItem.model_version_id, QueueItem.acquisition_score, QueueItem.status)
        .where(QueueItem.galaxy_id == label.galaxy_id, QueueItem.queue == "label"),
    )[0]  # fmt: skip
    active = rows(app_settings, select(ModelVersion.id).where(ModelVersion.is_active))[0][0]
    assert (label.status, label.class_index, label.comment) == ("answer", 1, "two arms")
    assert label.model_version_id == item.model_version_id == active
    assert label.acquisition_score == pytest.approx(item.acquisition_score)
    assert item.status == "done" and label.idempotency_key


def test_undo_retracts_the_label_and_brings_its_galaxy_back(app_settings: Settings) -> None:
    at = sign_in("ada", PASSWORDS["ada"])
    first = heading(at)
    press(at, "[1] elliptical")
    assert heading(at) != first
    press(at, "[z] Undo")
    assert not at.exception
    assert heading(at) == first
    answer, retraction = labels_of(app_settings, "ada")
    assert (retraction.status, retraction.supersedes_id) == ("retracted", answer.id)
    task_id = rows(app_settings, select(Task.id).where(Task.name == "morphology"))[0][0]
    current = rows(
        app_settings,
        current_labels_query(task_id).with_only_columns(Label.status)
        .where(Label.user_id == user_id(app_settings, "ada")),
    )  # fmt: skip
    assert [c.status for c in current] == ["retracted"]
    press(at, "[3] edge-on")  # labelling it again supersedes the retraction (edge_on, as read)
    assert [r.status for r in labels_of(app_settings, "ada")] == ["answer", "retracted", "answer"]


def test_skip_records_a_skip_and_gives_the_galaxy_back(app_settings: Settings) -> None:
    at = sign_in("ada", PASSWORDS["ada"])
    first = heading(at)
    press(at, "[s] Skip")
    assert not at.exception and heading(at) != first
    (label,) = labels_of(app_settings, "ada")
    assert (label.status, label.class_index) == ("skip", None)
    lease_status = rows(
        app_settings,
        select(Lease.status).join(QueueItem, QueueItem.id == Lease.queue_item_id)
        .where(QueueItem.galaxy_id == label.galaxy_id),
    )  # fmt: skip
    assert [s.status for s in lease_status] == ["released"]


def test_next_passes_without_a_label_and_unsure_has_no_class(app_settings: Settings) -> None:
    at = sign_in("bob", PASSWORDS["bob"])
    first = heading(at)
    press(at, "[n] Next")
    second = heading(at)
    assert second != first and labels_of(app_settings, "bob") == []
    press(at, "[u] Unsure")
    assert heading(at) not in (first, second)
    (label,) = labels_of(app_settings, "bob")
    assert (label.status, label.class_index) == ("unsure", None)


def test_sign_out_returns_to_the_sign_in_form(app_settings: Settings) -> None:
    at = sign_in("ada", PASSWORDS["ada"])
    at.button(key="sign_out").click().run()
    assert [b.label for b in at.button] == ["Sign in"] and "user" not in at.session_state


def test_label_to_next_galaxy_time_of_the_page(
    app_settings: Settings, record_property: pytest.RecordProperty
) -> None:
    """The page's own server time from a class key to the deck topped up again (the action,
    the next lease, the new galaxy's arrays, posterior and pictures): 10 labels in a row."""
    at = sign_in("ada", PASSWORDS["ada"])
    times = []
    for k in range(10):
        press(at, f"[{k % 6 + 1}] {display_name(MORPHOLOGY_CLASSES[k % 6])}")
        times.append(REPLIES[-1]["server_ms"])
    median = statistics.median(times)
    record_property("submit_to_next_ms", times)
    print(f"submit -> next galaxy: median {median:.0f} ms, max {max(times):.0f} ms")
    assert len(labels_of(app_settings, "ada")) == 10
    assert median < 500  # 200 ms is the target; shared CI cores vary 2-5x


def test_two_sessions_labeling_at_once_never_get_the_same_galaxy(app_settings: Settings) -> None:
    """Two labelers in two browser sessions, alternating clicks: at overlap 1 no galaxy is ever
    in front of both, and none comes back to the one who labelled it."""
    ada, bob = sign_in("ada", PASSWORDS["ada"]), sign_in("bob", PASSWORDS["bob"])
    seen: dict[str, list[str]] = {"ada": [heading(ada)], "bob": [heading(bob)]}
    for _ in range(4):
        assert seen["ada"][-1] != seen["bob"][-1]  # on screen at the same moment
        press(ada, "[1] elliptical")
        seen["ada"].append(heading(ada))
        assert seen["ada"][-1] != seen["bob"][-1]
        press(bob, "[2] spiral")
        seen["bob"].append(heading(bob))
    assert not ada.exception and not bob.exception
    assert not set(seen["ada"]) & set(seen["bob"])  # never shown to both, before or after
    assert all(len(set(s)) == len(s) for s in seen.values())  # never shown twice to one
    labelled = [r.galaxy_id for name in ("ada", "bob") for r in labels_of(app_settings, name)]
    assert len(labelled) == len(set(labelled)) == 8
