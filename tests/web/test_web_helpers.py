"""The web app's logic without a browser: images, spectra, posteriors, keys, clicks, serve."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from app.cli import app
from app.cli.admin.serve import ASGI, server_command
from app.config import Settings
from app.services import web_sessions
from app.services.data.class_names import display_name, display_names
from app.services.loop.labeling import Assignment
from app.services.loop.scoring import percentile_of
from app.web import images, keys, label_flow, session
from app.web.options import OPTIONS
from app.web.posterior import GalaxyPosterior, posterior_spec, summarize
from app.web.spectrum import (
    LINES,
    binned,
    line_labels,
    observed_lines,
    smoothed,
    spectrum_spec,
    unit_label,
)
from app.web.spectrum import sketch as spectrum_sketch
from storage.db import session_scope
from storage.models import Label, Lease, User
from tests.web.conftest import PASSWORDS
from tests.web.markdown import shown

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
    spec = spectrum_spec(wave, flux, ivar, z=0.1, flux_unit="1e-17 erg / (s cm2 Angstrom)")
    curve, rules, names = spec["layer"]
    assert len(curve["data"]["values"]) == 1500  # binned two to one
    assert {m["line"] for m in rules["data"]["values"]} == {line.name for line in LINES}
    assert curve["encoding"]["y"]["title"] == "flux (10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹)"
    texts = [n["text"] for n in names["data"]["values"]]
    assert "Ca K+H" in texts and "Hα+[NII]" in texts  # noqa: RUF001
    assert names["mark"].get("angle", 0) == 0 and names["mark"]["fontSize"] >= 12
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


def test_keys_label_buttons() -> None:
    assert keys.labelled("1", "elliptical") == "[1] elliptical"
    assert keys.labelled(None, "tenth class") == "tenth class"
    assert [keys.class_key(i) for i in (0, 8, 9)] == ["1", "9", None]
    assert set("123456789usnz") == keys.ALL_KEYS


def test_key_events_from_the_browser_are_checked() -> None:
    good = {"page": "p", "seq": 2, "key": "3", "lease": 7, "comment": "bar"}
    bad = [
        "1", 3, None, {"page": "p", "seq": "2", "key": "3", "lease": 7},
        {**good, "key": "x"}, {**good, "key": "Z"}, {**good, "lease": "7"},
        {**good, "page": ""}, {**good, "page": "p" * 65}, {**good, "comment": 5},
    ]  # fmt: skip
    events = label_flow.parse_events([*bad, good, {**good, "seq": 1, "key": "z", "lease": None}])
    assert events == [
        label_flow.KeyEvent("p", 1, "z", None, "bar"),
        label_flow.KeyEvent("p", 2, "3", 7, "bar"),
    ]
    assert label_flow.parse_events("not a list") == label_flow.parse_events(None) == []


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
        ("power_bald", "Picked under no model: its BALD score is 0.123 nats."),
        ("random_control", "A random control, queued by no model: drawn uniformly, whatever "
                           "its score (BALD 0.123 nats)"),
        (None, "Queued by no model: acquisition none, score 0.123 nats."),
        ("typiclust", "A cold-start pick, queued before the survey had a model: the most "
                      "typical galaxy of one of the largest colour clusters"),
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


def test_reason_in_plain_words_percentile_share_and_the_current_model(
    app_settings: Settings,
) -> None:
    assignment = Assignment(1, 1, "g", 1, datetime.now(UTC), 1, "power_bald", 0.1234)
    # two samples that disagree completely: entropy log 2, all of it disagreement (BALD log 2)
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    engine = app_settings.engine()
    with session_scope(engine) as s:
        why = label_flow.reason(s, assignment, percentile=0.934, probs=probs, active="mock-v2")
    text = shown(why)
    engine.dispose()
    assert text.startswith(
        "Picked under model mock-v1 (mock-v2 is active now): its BALD score is 0.123 nats, "
        "higher than 93% of the pool."
    )
    assert "uncertainty about its class (0.69 nats), 0.693 nats (100%) is disagreement" in text
    assert "power sampling" in text and "queue order follows the score only on average" in text


def test_a_score_is_a_percentile_of_the_pool() -> None:
    pool = np.array([0.1, 0.2, 0.2, 0.5])
    assert percentile_of(0.2, pool) == 0.75 and percentile_of(0.05, pool) == 0.0
    assert percentile_of(0.9, pool) == 1.0 and percentile_of(0.3, np.zeros(0)) is None


def _task_and_user(engine, name: str) -> tuple[label_flow.TaskChoice, int]:
    with session_scope(engine) as s:
        (task,) = label_flow.classification_tasks(s)
        return task, s.scalar(select(User.id).where(User.name == name))


def _expert_labels(engine) -> list[tuple]:
    with session_scope(engine) as s:
        return [
            tuple(r)
            for r in s.execute(
                select(Label.galaxy_id, Label.status, Label.class_index, Label.comment)
                .where(Label.source == "expert")
                .order_by(Label.id)
            )
        ]


def _key(seq: int, key: str, shown: label_flow.Shown | None, comment: str = ""):
    lease = shown.assignment.lease_id if shown is not None else None
    return label_flow.KeyEvent("page", seq, key, lease, comment)


def test_keys_faster_than_the_page_land_in_order_on_their_galaxies(
    app_settings: Settings,
) -> None:
    engine = app_settings.engine()
    task, ada = _task_and_user(engine, "ada")
    state: dict = {}
    held = label_flow.held(state, engine, ada, task, overlap=1)
    assert len(held) == label_flow.HELD
    assert label_flow.held(state, engine, ada, task, overlap=1) == held  # a rerun keeps them
    # four keys pressed on four galaxies before the server answered any: one batch
    burst = [_key(1, "1", held[0], "round"), _key(2, "2", held[1]), _key(3, "n", held[2]),
             _key(4, "u", held[3])]  # fmt: skip
    assert label_flow.apply_keys(state, engine, ada, task, burst) == 4
    gid = [h.assignment.galaxy_id for h in held]
    assert _expert_labels(engine) == [
        (gid[0], "answer", 0, "round"), (gid[1], "answer", 1, None), (gid[3], "unsure", None, None)
    ]  # fmt: skip
    assert [m for _, m in state[label_flow.FLASH_KEY]] == [
        f"{held[1].assignment.source_id} labelled spiral",
        f"{held[2].assignment.source_id} passed on",
        f"{held[3].assignment.source_id} marked unsure",
    ]
    after = label_flow.held(state, engine, ada, task, overlap=1)
    assert after[:2] == [held[4], held[5]] and len(after) == label_flow.HELD
    # the browser resends keys until it hears they were applied: they count once
    assert label_flow.apply_keys(state, engine, ada, task, burst) == 0
    # a new key for a galaxy already answered is refused, with a message
    assert label_flow.apply_keys(state, engine, ada, task, [_key(5, "3", held[0])]) == 1
    assert "no longer yours" in state[label_flow.FLASH_KEY][-1][1]
    # so is a direct second submission or pass on it (a double click)
    label_flow.submit(state, engine, ada, held[0], status="answer", class_index=4)
    label_flow.leave(state, engine, ada, held[0])
    assert len(_expert_labels(engine)) == 3
    engine.dispose()


def test_undo_puts_the_galaxy_back_in_front(app_settings: Settings) -> None:
    engine = app_settings.engine()
    task, ada = _task_and_user(engine, "ada")
    state: dict = {}
    held = label_flow.held(state, engine, ada, task, overlap=1)
    label_flow.apply_keys(state, engine, ada, task, [_key(1, "1", held[0]), _key(2, "z", None)])
    assert label_flow.held(state, engine, ada, task, overlap=1)[0].assignment.lease_id == (
        held[0].assignment.lease_id
    )
    assert [s for _, s, _, _ in _expert_labels(engine)] == ["answer", "retracted"]
    engine.dispose()


def test_a_galaxy_whose_hold_ran_out_leaves_the_deck_with_a_message(
    app_settings: Settings,
) -> None:
    engine = app_settings.engine()
    task, bob = _task_and_user(engine, "bob")
    state: dict = {}
    first = label_flow.held(state, engine, bob, task, overlap=1)[0]
    with session_scope(engine) as s:
        s.execute(
            update(Lease)
            .where(Lease.id == first.assignment.lease_id)
            .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        )
    again = label_flow.held(state, engine, bob, task, overlap=1)
    assert first.assignment.lease_id not in [h.assignment.lease_id for h in again]
    level, message = state[label_flow.FLASH_KEY][-1]
    assert level == "warning" and message == f"your hold on {first.assignment.source_id} ran out"
    assert label_flow.apply_keys(state, engine, bob, task, [_key(1, "1", first)]) == 1
    assert _expert_labels(engine) == []  # its late key is refused
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


def _galaxy(size: int = 64) -> np.ndarray:
    y, x = np.mgrid[:size, :size] - size / 2
    core = np.exp(-(x**2 + y**2) / 20.0)
    return np.stack([core * w for w in (0.5, 1.0, 2.0, 3.0, 3.5)])  # redder towards z


@pytest.mark.parametrize("stretch", images.STRETCHES)
def test_every_stretch_shows_the_core_bright_and_the_sky_dark(stretch: str) -> None:
    galaxy = _galaxy()
    picture, caption = images.colour_view(galaxy, BANDS, stretch=stretch)
    assert picture.shape == (64, 64, 3) and picture.dtype == np.uint8
    assert picture[32, 32].max() > 150 and picture[0, 0].max() < 30
    grey = images.band_view(galaxy[2], stretch=stretch)
    assert grey[32, 32] == 255 and grey[0, 0] == 0
    assert stretch in caption or "Lupton" in caption


def test_log_lifts_faint_light_and_contrast_saturates_more() -> None:
    band = _galaxy()[2]
    faint = (32, 40)  # exp(-64 / 20): 4% of the peak
    linear = images.band_view(band, stretch="linear")
    assert images.band_view(band, stretch="log")[faint] > 3 * linear[faint]
    brighter = images.band_view(band, stretch="linear", contrast=4)
    assert (brighter == 255).sum() > (linear == 255).sum()
    with pytest.raises(ValueError, match="unknown stretch 'sqrt'"):
        images.band_view(band, stretch="sqrt")
    with pytest.raises(ValueError, match="contrast must be a positive number"):
        images.colour_view(_galaxy(), BANDS, contrast=0)


def test_zoom_is_smooth() -> None:
    checker = (np.indices((8, 8)).sum(0) % 2 * 255).astype(np.uint8)
    values = np.unique(images.zoom(checker, 1, size=64))
    assert len(values) > 10  # interpolated, not 8x8 blocks of 0 and 255


def test_scale_bar_is_a_round_length_under_a_third_of_the_field() -> None:
    assert images.scale_bar_arcsec(64 * 0.396) == 5  # SDSS pixels: a 25" field
    assert images.scale_bar_arcsec(100.0) == 30
    assert images.scale_bar_arcsec(1.0) == 0.5  # the shortest, when even that is long


def test_for_eye_draws_the_bar_and_arrows_with_north_up() -> None:
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[-1] = 255  # the last row: north, in the FITS convention
    fits_like = {"north": [0.0, 1.0], "east": [-1.0, 0.0]}
    shown, caption = images.for_eye(
        picture, factor=1, size=384, pixel_scale=0.396, orientation=fits_like
    )
    assert shown.shape == (384, 384, 3)
    assert shown[0].min() > 200 and shown[200, 50].max() == 0  # flipped: north at the top
    assert caption == "bar 5″; N and E from the cutout's WCS, north up"
    bar_row = 384 - 384 // 14
    lit = np.flatnonzero(shown[bar_row, :, 0] > 200)
    assert abs(len(lit) - 5 / (64 * 0.396) * 384) <= 4  # 5" of a 25.3" field, in pixels
    ox, oy = 384 - 384 // 8, 384 // 8 + 384 // 32
    assert shown[oy - 30 : oy - 5, ox, 0].max() > 200  # N points up
    assert shown[oy, ox - 30 : ox - 5, 0].max() > 200  # E points left
    assert shown[oy + 5 : oy + 30, ox, 0].max() == 0 and shown[oy, ox + 5 : ox + 30, 0].max() == 0


def test_for_eye_without_a_wcs_says_so_and_keeps_the_rows() -> None:
    picture = np.zeros((64, 64), np.uint8)
    picture[0] = 255
    shown, caption = images.for_eye(picture, factor=2, size=128, pixel_scale=None, orientation=None)
    assert caption == "orientation unknown (no WCS)"
    np.testing.assert_array_equal(shown[..., 0], images.zoom(picture, 2, size=128))


def test_line_names_never_overlap_in_a_row() -> None:
    for z in np.linspace(0.0, 0.6, 61):
        placed = line_labels(observed_lines(float(z), 3800.0, 9200.0), 5400.0)
        per_pixel = 5400.0 / 700
        for row in {p["top"] for p in placed}:
            spans = sorted(
                (p["wavelength"] - len(p["text"]) * 3.75 * per_pixel,
                 p["wavelength"] + len(p["text"]) * 3.75 * per_pixel)
                for p in placed if p["top"] == row
            )  # fmt: skip
            assert all(a[1] < b[0] for a, b in itertools.pairwise(spans)), (z, row, spans)


def test_smoothing_averages_by_inverse_variance_and_skips_masked_pixels() -> None:
    flux = np.array([1.0, 1.0, 100.0, 1.0, 1.0, 4.0, 4.0])
    ivar = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    out = smoothed(flux, ivar, 3)
    assert out[2] == 1.0  # the masked spike does not count, even for itself
    assert out[4] == pytest.approx(2.0) and out[5] == pytest.approx(3.0)
    np.testing.assert_array_equal(smoothed(flux, ivar, 1), flux)
    with pytest.raises(ValueError, match="positive odd number"):
        smoothed(flux, ivar, 4)


def test_units_read_as_astronomers_write_them() -> None:
    assert unit_label("1e-17 erg / (s cm2 Angstrom)") == "10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹"
    assert unit_label("erg/s/cm2/Angstrom") == "erg s⁻¹ cm⁻² Å⁻¹"
    assert unit_label("arbitrary") == "arbitrary"  # not a unit: shown as given


def test_lines_are_marked_at_the_measured_redshift_with_the_models_beside() -> None:
    post = GalaxyPosterior(probs={}, redshift=0.2521, redshift_std=0.004)
    assert label_flow.redshift_caption(0.2574, 0.2521, post) == (
        "Lines at the measured redshift z = 0.2574 (spectroscopic); "
        "the model says z = 0.2521 ± 0.0040."
    )
    assert label_flow.redshift_caption(None, 0.2521, post).startswith(
        "No measured redshift: lines at the model's posterior mean, z = 0.2521"
    )
    assert "not marked" in label_flow.redshift_caption(None, None, None)


def test_follow_up_queue_shows_whole_seconds() -> None:
    from app.services.followup.admin import FollowupItem
    from app.web import followup_flow

    items = [
        FollowupItem(1, "g1", 10.0, 1.0, 19.1453, 2.3, 4.1, 2.0, "pending", "mock-v2"),
        FollowupItem(2, "g2", 11.0, 1.0, None, None, None, 1.0, "pending", None),
    ]
    exposures = followup_flow.queue_frame(items)["exposure (s)"]
    assert exposures[0] == 19 and np.isnan(exposures[1])  # no exposure known: blank


def test_the_deck_spectrum_sketch_marks_lines_at_z_and_keeps_names_inside() -> None:
    wave = np.linspace(3800.0, 9200.0, 3000)
    flux = 1.0 + np.sin(wave / 300.0)
    sketch = spectrum_sketch(wave, flux, np.ones_like(wave), z=0.03, flux_unit="arbitrary")
    width = sketch["width"]
    x = [float(p.split(",")[0]) for p in sketch["points"].split()]
    assert x[0] == 0 and x[-1] == width and len(x) <= width
    halpha = 6564.6 * 1.03  # H-alpha at z = 0.03 sits where the plot says
    assert any(abs(m["x"] - (halpha - 3800) / 5400 * width) < 2 for m in sketch["marks"])
    assert all(len(n["text"]) * 3.75 <= n["x"] <= width - len(n["text"]) * 3.75
               for n in sketch["names"])  # fmt: skip
    assert spectrum_sketch(wave[:1], flux[:1], np.ones(1), z=None, flux_unit="") is None
