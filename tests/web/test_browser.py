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
from storage.db import session_scope
from storage.labels import current_labels_query
from storage.models import Label, Task, User
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
        # Leaving the box commits its text and reruns the page; a key pressed during that
        # rerun could reach a button the rerun is replacing, so let the page settle first.
        time.sleep(1.0)
        browser.wait_for_galaxy(page)
        for rows, key in enumerate("123z", start=1):  # three answers, then one retraction
            browser.press_until(page, key, lambda n=rows: answers_by(settings, "ada")[1] == n)
            shown = browser.wait_for_galaxy(page, other_than=shown)

        shot = tmp_path / "label_page.png"
        page.screenshot(path=str(shot))
        chromium.close()
    assert answers_by(settings, "ada") == (2, 4)
    assert shot.stat().st_size > 10_000
    if target := os.environ.get("GALACTIVE_SCREENSHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / "label_page.png")
