"""The web app's logic without a browser: images, spectra, posteriors, keys, clicks, serve."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app
from app.cli.admin.serve import ASGI, server_command
from app.config import Settings
from app.services import web_sessions
from app.services.data.class_names import display_name, display_names
from app.services.loop.labeling import Assignment
from app.web import images, keys, label_flow, session
from app.web.options import OPTIONS
from app.web.posterior import posterior_spec, summarize
from app.web.spectrum import LINES, binned, observed_lines, spectrum_spec
from storage.db import session_scope
from storage.models import Label, User
from tests.web.conftest import PASSWORDS

BANDS = ("u", "g", "r", "i", "z")


def test_lupton_composite_is_rgb_and_shows_a_red_source_red() -> None:
    image = np.zeros((5, 16, 16))
    image[BANDS.index("i"), 6:10, 6:10] = 5.0  # bright in i only
    rgb = images.lupton_rgb(image, BANDS)
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    red, green, blue = rgb[8, 8]
    assert red > 200 and green == blue == 0
    assert rgb[0, 0].tolist() == [0, 0, 0]  # empty sky is black


def test_lupton_composite_names_a_missing_band() -> None:
    with pytest.raises(ValueError, match=r"\['i'\] not in \['u', 'g', 'r'\]"):
        images.lupton_rgb(np.zeros((3, 4, 4)), ("u", "g", "r"))


def test_colour_view_falls_back_to_one_band_in_grey() -> None:
    picture, caption = images.colour_view(np.ones((5, 8, 8)), BANDS)
    assert picture.shape == (8, 8, 3) and caption.startswith("g, r, i colour composite")
    picture, caption = images.colour_view(np.ones((2, 8, 8)), ("u", "z"))
    assert picture.shape == (8, 8) and caption.startswith("band u in grey: a colour composite")


def test_band_view_and_zoom() -> None:
    rng = np.random.default_rng(0)
    band = rng.normal(0, 0.05, (64, 64))
    band[30:34, 30:34] += 3.0
    grey = images.band_view(band)
    assert grey.dtype == np.uint8 and grey[32, 32] == 255 and np.median(grey) < 60
    zoomed = images.zoom(grey, 4, size=128)
    assert zoomed.shape == (128, 128)
    assert (zoomed == 255).mean() > (grey == 255).mean() * 4  # the core fills more of it
    assert images.zoom(np.zeros((64, 64, 3), np.uint8), 2, size=96).shape == (96, 96, 3)
    with pytest.raises(ValueError, match=r"zoom factor must be >= 1, got 0\.5"):
        images.zoom(grey, 0.5, size=64)


def test_observed_lines_are_shifted_and_cut_to_the_range() -> None:
    found = {line.name: wave for line, wave in observed_lines(0.1, 3800.0, 9200.0)}
    assert found["Hα"] == pytest.approx(6563.0 * 1.1)  # noqa: RUF001
    assert found["[OII]"] == pytest.approx(3727.0 * 1.1)
    assert len(found) == len(LINES)
    assert [line.name for line, _ in observed_lines(0.5, 3800.0, 9200.0)][-1] == "Na D"


def test_binned_drops_masked_samples_and_averages_by_inverse_variance() -> None:
    wave = np.arange(10, dtype=float)
    flux = np.array([1, 3, 5, 5, 9, 9, 9, 9, 100, 100], dtype=float)
    ivar = np.array([1, 1, 1, 3, 1, 1, 1, 1, 0, 0], dtype=float)
    w, f = binned(wave, flux, ivar, max_points=4)
    assert w.tolist() == [0.5, 2.75, 4.5, 6.5] and f.tolist() == [2.0, 5.0, 9.0, 9.0]
    assert binned(wave, flux, ivar)[1].tolist() == flux[:8].tolist()


def test_spectrum_spec_marks_lines_only_with_a_redshift() -> None:
    wave = np.linspace(3800, 9200, 3000)
    flux, ivar = np.ones_like(wave), np.ones_like(wave)
    spec = spectrum_spec(wave, flux, ivar, z=0.1, flux_unit="1e-17 erg/s/cm2/Å")
    curve, rules, _ = spec["layer"]
    assert len(curve["data"]["values"]) == 1500  # binned two to one
    assert {m["line"] for m in rules["data"]["values"]} == {line.name for line in LINES}
    assert curve["encoding"]["y"]["title"] == "flux (1e-17 erg/s/cm2/Å)"
    unmarked = spectrum_spec(wave, flux, ivar, z=None, flux_unit="x")
    assert unmarked["layer"][1]["data"]["values"] == []


def test_summarize_gives_mean_and_16_84_range_per_class() -> None:
    probs = np.random.default_rng(1).dirichlet([5, 2, 1], size=200)  # (T, C)
    summary = summarize(probs, ["a", "b", "c"])
    np.testing.assert_allclose(summary.mean, probs.mean(0))
    np.testing.assert_allclose(summary.low, np.percentile(probs, 16, axis=0))
    np.testing.assert_allclose(summary.high, np.percentile(probs, 84, axis=0))
    assert summary.top == 0 and np.all(summary.low <= summary.high)
    spec = posterior_spec(summary)
    assert [v["class"] for v in spec["data"]["values"]] == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"probs must be \(T, 2\), got \(200, 3\)"):
        summarize(probs, ["a", "b"])


def test_keys_label_buttons_and_build_the_listener() -> None:
    assert keys.labelled("1", "elliptical") == "[1] elliptical"
    assert keys.labelled(None, "tenth class") == "tenth class"
    assert [keys.class_key(i) for i in (0, 8, 9)] == ["1", "9", None]
    script = keys.script(["2", "1", "z"])
    assert '["1", "2", "z"]' in script and "event.repeat" in script and "INPUT" in script
    with pytest.raises(ValueError, match=r"\['Z', 'ab'\]"):
        keys.script(["Z", "ab"])


def test_only_admins_choose_the_overlap() -> None:
    assert label_flow.allowed_overlap("admin", 3) == 3
    assert label_flow.allowed_overlap("admin", 0) == 1
    assert label_flow.allowed_overlap("admin", 99) == label_flow.MAX_OVERLAP
    assert label_flow.allowed_overlap("labeler", 3) == 1


def test_finish_timing_reports_only_after_an_action() -> None:
    state: dict = {}
    assert label_flow.finish_timing(state) is None
    state[label_flow.STARTED_KEY] = 0.0
    assert label_flow.finish_timing(state) > 0 and label_flow.STARTED_KEY not in state


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("power_bald", "Picked by power-sampled BALD under no model: the model expects to learn "
                       "0.123 nats"),
        ("random_control", "A random control, queued by no model (BALD 0.123 nats)"),
        (None, "Queued by no model: acquisition none, score 0.123."),
    ],
)  # fmt: skip
def test_reason_says_why_a_galaxy_was_queued(
    app_settings: Settings, kind: str | None, expected: str
) -> None:
    assignment = Assignment(1, 1, "g", 1, datetime.now(UTC), None, kind, 0.1234)
    engine = app_settings.engine()
    with session_scope(engine) as s:
        assert label_flow.reason(s, assignment).startswith(expected)
    engine.dispose()


def test_a_second_press_on_the_same_galaxy_counts_once(app_settings: Settings) -> None:
    engine = app_settings.engine()
    with session_scope(engine) as s:
        (task,) = label_flow.classification_tasks(s)
        ada = s.scalar(select(User.id).where(User.name == "ada"))
    state: dict = {}
    first = label_flow.shown(state, engine, ada, task, overlap=1)
    assert label_flow.shown(state, engine, ada, task, overlap=1) is first  # a rerun keeps it
    label_flow.submit(state, engine, ada, first, status="answer", class_index=2)
    second = label_flow.shown(state, engine, ada, task, overlap=1)
    assert second.assignment.galaxy_id != first.assignment.galaxy_id
    assert second.idempotency_key != first.idempotency_key
    # The same press arriving again (a double click, a resent request) changes nothing.
    state.pop(label_flow.FLASH_KEY)
    label_flow.submit(state, engine, ada, first, status="answer", class_index=4)
    label_flow.leave(state, engine, ada, first)
    assert state[label_flow.SHOWN_KEY] is second and label_flow.FLASH_KEY not in state
    with session_scope(engine) as s:
        labels = s.execute(
            select(Label.galaxy_id, Label.class_index).where(Label.source == "expert")
        ).all()
    assert labels == [(first.assignment.galaxy_id, 2)]
    engine.dispose()


def test_a_galaxy_whose_lease_ran_out_is_not_kept_on_screen(app_settings: Settings) -> None:
    engine = app_settings.engine()
    with session_scope(engine) as s:
        (task,) = label_flow.classification_tasks(s)
        bob = s.scalar(select(User.id).where(User.name == "bob"))
    state: dict = {}
    first = label_flow.shown(state, engine, bob, task, overlap=1)
    past = datetime(2000, 1, 1, tzinfo=UTC)
    state[label_flow.SHOWN_KEY] = replace(
        first, assignment=replace(first.assignment, expires_at=past)
    )
    again = label_flow.shown(state, engine, bob, task, overlap=1)
    assert again.idempotency_key != first.idempotency_key  # asked the server afresh
    level, message = state[label_flow.FLASH_KEY]
    assert level == "warning" and "ran out" in message
    engine.dispose()


def test_sign_in_and_out(app_settings: Settings) -> None:
    engine = app_settings.engine()
    state: dict = {}
    assert not session.sign_in(state, engine, "ada", "not-her-password")
    assert session.current_user(state) is None
    assert session.sign_in(state, engine, " ada ", PASSWORDS["ada"])
    user = session.current_user(state)
    assert (user.name, user.role, user.is_admin) == ("ada", "admin", True)
    token = state[session.TOKEN_KEY]
    target = state[session.REDIRECT_KEY]  # where the browser goes for its cookie
    assert target.startswith(f"{session.SESSION_ROUTE}?token={token}&next=")
    with session_scope(engine) as s:
        assert web_sessions.user_of(s, token) is None  # no cookie until it is delivered, once
        assert web_sessions.deliver(s, token) and not web_sessions.deliver(s, token)
        assert web_sessions.user_of(s, token).name == "ada"
    session.sign_out(state, engine)
    assert state == {session.REDIRECT_KEY: session.SIGN_OUT_ROUTE}  # the browser clears it
    with session_scope(engine) as s:
        assert web_sessions.user_of(s, token) is None  # revoked on the server
    engine.dispose()


@pytest.mark.parametrize(
    ("target", "safe"),
    [("/models", "/models"), ("/", "/"), ("//evil.example/x", "/"), ("https://evil.example", "/"),
     ("/\\evil.example", "/"), ("", "/"), (None, "/")],
)  # fmt: skip
def test_redirects_stay_on_this_server(target: str | None, safe: str) -> None:
    assert session.safe_path(target) == safe


def test_serve_runs_streamlit_headless_on_this_database(tmp_path) -> None:
    settings = Settings(home=tmp_path, db_url="postgresql://u:secret@db:5432/g")
    argv, env = server_command(settings, port=8600, host="0.0.0.0")
    assert argv[1:4] == ["-m", "uvicorn", ASGI]
    options = dict(zip(argv[4:8:2], argv[5:8:2], strict=True))
    assert options["--port"] == "8600" and options["--host"] == "0.0.0.0"
    assert OPTIONS["server.headless"] is True and OPTIONS["browser.gatherUsageStats"] is False
    assert env["GALACTIVE_DB"] == settings.db_url and env["GALACTIVE_HOME"] == str(tmp_path)
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "--host" in result.output


def test_class_names_read_as_words() -> None:
    assert display_name("edge_on") == "edge-on" and display_name("face_on") == "face-on"
    assert display_name("star_forming") == "star forming"
    assert display_name("elliptical") == "elliptical" and display_name("on") == "on"
    assert display_names(("spiral", "edge_on")) == ("spiral", "edge-on")
