"""The docs' pictures of the web app, taken in headless Chromium against a survey.

    echo PASSWORD | python -m tests.web.screenshots --home /tmp/g2k --user ada --out docs/img

Writes ``app_signin.png`` and ``app_label.png``. To show a spectrum, it passes on galaxies
(the ``n`` key: no label is written) until one with a spectrum comes up.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from app.config import resolve
from tests.web import browser

MAX_PASSES = 60


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
        for _ in range(MAX_PASSES):
            if page.locator("[data-testid='stVegaLiteChart']").count() >= 2:
                break
            page.keyboard.press("n")
            shown = browser.wait_for_galaxy(page, other_than=shown)
        time.sleep(1.0)  # let the charts finish drawing
        page.screenshot(path=str(args.out / "app_label.png"))
        chromium.close()
    (args.out / ".serve.log").unlink()
    print(f"wrote {args.out / 'app_signin.png'} and {args.out / 'app_label.png'} ({shown})")


if __name__ == "__main__":
    main()
