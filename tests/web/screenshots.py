"""The docs' pictures of the web app, taken in headless Chromium against a survey.

    echo PASSWORD | python -m tests.web.screenshots --home /tmp/g2k --user ada --out docs/img

Writes ``app_signin.png`` and ``app_label.png``. To show a spectrum, it passes on galaxies
(the ``n`` key: no label is written) until one with a spectrum comes up. Then, through the
sidebar, ``app_models.png`` (versions, the last retrain job, the label queue's top),
``app_followup.png`` (an 8-hour plan: ranked targets and sky plot; nothing is saved) and
``app_reports.png`` (the active version's uncertainty report). The user should be an admin,
so the admin controls show.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from app.config import resolve
from tests.web import browser

MAX_PASSES = 60
PAGE_TIMEOUT_MS = 180_000  # planning and the report predict the survey: minutes on 2 cores


def open_page(page: Page, title: str, ready: str) -> None:
    """Open the app page ``title`` from the sidebar and wait until ``ready`` (a CSS selector)
    shows and no element is stale."""
    page.get_by_role("link", name=title).click()
    page.locator(ready).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-stale='true']\")", timeout=PAGE_TIMEOUT_MS
    )
    time.sleep(1.5)  # let charts and images finish drawing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="GALACTIVE_HOME of the survey")
    parser.add_argument("--db", default=None, help="database URL (default: SQLite under home)")
    parser.add_argument("--user", required=True, help="user to sign in as")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    password = sys.stdin.readline().rstrip("\r\n")
    args.out.mkdir(parents=True, exist_ok=True)
    settings = resolve(args.db, args.home)
    with browser.served(settings, args.out / ".serve.log") as url, sync_playwright() as p:
        chromium = browser.launch(p)
        page = chromium.new_page(viewport={"width": 1400, "height": 820})
        page.goto(url)
        page.get_by_role("textbox", name="Password").wait_for()
        time.sleep(1.0)  # fonts and layout settle
        page.screenshot(path=str(args.out / "app_signin.png"))
        page.set_viewport_size({"width": 1400, "height": 1500})
        browser.sign_in(page, url, args.user, password)
        shown = browser.galaxy_heading(page)
        for _ in range(MAX_PASSES):  # a galaxy with a spectrum, for the picture
            if page.locator(f"{browser.DECK} .gx-spectrum-svg").count():
                break
            shown = browser.pass_galaxy(page, shown)
        time.sleep(1.0)  # let the charts finish drawing
        page.screenshot(path=str(args.out / "app_label.png"))
        open_page(page, "Models", "[data-testid='stProgress']")
        page.screenshot(path=str(args.out / "app_models.png"))
        page.set_viewport_size({"width": 1400, "height": 1700})
        open_page(page, "Follow-up", "[data-testid='stForm']")
        page.get_by_role("button", name="Plan").click()
        page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        time.sleep(1.5)
        page.screenshot(path=str(args.out / "app_followup.png"))
        page.set_viewport_size({"width": 1400, "height": 2700})  # the map is last
        open_page(page, "Reports", "[data-testid='stImage']")
        page.screenshot(path=str(args.out / "app_reports.png"))
        chromium.close()
    (args.out / ".serve.log").unlink()
    names = ("signin", "label", "models", "followup", "reports")
    print(f"wrote {', '.join(f'app_{n}.png' for n in names)} to {args.out} ({shown})")


if __name__ == "__main__":
    main()
