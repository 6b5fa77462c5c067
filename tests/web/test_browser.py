"""End to end in real headless Chromium: ``galactive serve``, sign in, label with the keyboard.

Needs the ``playwright`` package (the dev extra) and Debian's ``/usr/bin/chromium``; without
them the test fails in CI (``CI`` set) and is skipped elsewhere, saying what is missing
(``browser_site`` in conftest.py).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.web import label_flow
from storage.db import session_scope
from storage.labels import current_labels_query
from storage.models import Galaxy, Label, Task, User
from tests.web import browser
from tests.web.conftest import PASSWORDS
from tests.worker.conftest import World

pytestmark = pytest.mark.slow


def answers_by(settings: Settings, name: str) -> tuple[int, int]:
    """(current answer labels, all label rows) of user ``name`` in the morphology task."""
    engine = settings.engine()
    with session_scope(engine) as session:
        uid = session.scalar(select(User.id).where(User.name == name))
        task_id = session.scalar(select(Task.id).where(Task.name == "morphology"))
        current = session.scalar(
            current_labels_query(task_id)
            .with_only_columns(func.count(Label.id))
            .where(Label.user_id == uid, Label.status == "answer")
        )
        total = session.scalar(select(func.count(Label.id)).where(Label.user_id == uid))
    engine.dispose()
    return current, total


def expert_labels(settings: Settings, name: str) -> list[tuple[str, str, int | None, str | None]]:
    """(source id, status, class index, comment) of every label by user ``name``, in order."""
    engine = settings.engine()
    with session_scope(engine) as session:
        found = session.execute(
            select(Galaxy.source_id, Label.status, Label.class_index, Label.comment)
            .join(Galaxy, Galaxy.id == Label.galaxy_id)
            .join(User, User.id == Label.user_id)
            .where(User.name == name)
            .order_by(Label.id)
        ).all()
    engine.dispose()
    return [tuple(row) for row in found]


def test_sign_in_label_three_by_keyboard_and_undo_one(browser_site: World, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    settings = browser_site.copy(tmp_path)
    with browser.served(settings, tmp_path / "serve.log") as url, sync_playwright() as p:
        chromium = browser.launch(p)
        page = chromium.new_page(viewport={"width": 1400, "height": 1500})
        browser.sign_in(page, url, "ada", PASSWORDS["ada"])
        shown = browser.galaxy_heading(page)

        # Typing in the comment box is text, not shortcuts.
        page.get_by_role("textbox", name="Comment (optional)").press_sequentially("1 s z")
        time.sleep(1.0)
        assert browser.galaxy_heading(page) == shown and answers_by(settings, "ada") == (0, 0)

        page.get_by_role("textbox", name="Comment (optional)").blur()
        first = shown
        for rows, key in enumerate("123z", start=1):  # three answers, then one retraction
            page.keyboard.press(key)
            browser.wait_until(lambda n=rows: answers_by(settings, "ada")[1] == n, what=key)
            shown = browser.wait_for_galaxy(page, other_than=shown)

        shot = tmp_path / "label_page.png"
        page.screenshot(path=str(shot))
        chromium.close()
    assert answers_by(settings, "ada") == (2, 4)
    assert expert_labels(settings, "ada")[0] == (first.split(" ·")[0], "answer", 0, "1 s z")
    assert shot.stat().st_size > 10_000
    if target := os.environ.get("GALACTIVE_SCREENSHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / "label_page.png")


HELD = "() => window.galactiveDeck.data.cards.length"
SHOWN = """() => {
  const deck = document.querySelector("[data-testid='galactive-deck']");
  return [deck.querySelector("h3").innerText, deck.dataset.state];
}"""
# Counts animation frames in which the deck shows no decoded galaxy image.
WATCH_FRAMES = """() => {
  window.framesSeen = 0; window.blankFrames = 0; window.watching = true;
  const frame = () => {
    const deck = document.querySelector("[data-testid='galactive-deck']");
    const image = deck && deck.querySelector(".gx-image");
    window.framesSeen += 1;
    if (!image || !image.complete || !image.naturalWidth) window.blankFrames += 1;
    if (window.watching) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}"""


def test_ten_keys_at_five_per_second_each_land_on_the_galaxy_shown(
    browser_site: World, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    settings = browser_site.copy(tmp_path)
    keys = "1234561234"
    with browser.served(settings, tmp_path / "serve.log") as url, sync_playwright() as p:
        chromium = browser.launch(p)
        page = chromium.new_page(viewport={"width": 1400, "height": 1500})
        browser.sign_in(page, url, "ada", PASSWORDS["ada"])
        browser.wait_until(lambda: page.evaluate(HELD) == label_flow.HELD, what="deck drawn")
        page.evaluate(WATCH_FRAMES)
        pressed, states = [], []
        start = time.monotonic()
        for k, key in enumerate(keys):
            time.sleep(max(0.0, start + 0.2 * k - time.monotonic()))
            heading, state = page.evaluate(SHOWN)  # read at once: a redraw may come between
            pressed.append(heading.split(" ·")[0])
            states.append(state)
            page.keyboard.press(key)
        took = time.monotonic() - start
        try:
            browser.wait_until(lambda: len(expert_labels(settings, "ada")) >= len(keys))
        except TimeoutError as err:
            notes = page.locator(".gx-notes").inner_text()
            found = expert_labels(settings, "ada")
            raise AssertionError(f"pressed on {pressed}, {states}; {found}; {notes}") from err
        time.sleep(1.0)  # a doubled key would arrive now
        page.evaluate("() => { window.watching = false; }")
        frames, blank = page.evaluate("() => [window.framesSeen, window.blankFrames]")
        chromium.close()
    assert took < 2.2  # the keys went at five per second
    assert states == ["ready"] * len(keys)  # a galaxy was on screen at every key
    assert expert_labels(settings, "ada") == [
        (source, "answer", int(key) - 1, None) for source, key in zip(pressed, keys, strict=True)
    ]
    assert len(set(pressed)) == len(keys)
    assert frames > 30 and blank == 0
