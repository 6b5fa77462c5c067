"""Drive the real app in headless Chromium: start ``galactive serve``, sign in, press keys.

Used by ``test_browser.py`` and by ``python -m tests.web.screenshots`` (the docs' pictures).
The browser is Debian's ``/usr/bin/chromium``; Playwright's own downloads are never used.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
START_TIMEOUT = 90.0  # seconds for Streamlit to answer its health check
NAVIGATION_TIMEOUT_MS = 60_000  # a sign-in's redirect on a loaded machine
DECK = "[data-testid='galactive-deck']"
DECODED = (  # the deck's image has decoded (an <img> is never drawn empty)
    "() => { const i = document.querySelector(\"[data-testid='galactive-deck'] .gx-image\");"
    " return !!i && i.complete && i.naturalWidth > 0; }"
)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(settings: Settings, log: Path, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """``galactive serve`` on a free port for the block; its base URL. Output goes to ``log``
    (printed if the server never comes up); the whole process group is stopped afterwards."""
    port = free_port()
    argv = [sys.executable, "-c", "from app.cli import main; main()",
            "--db", settings.db_url, "--home", str(settings.home),
            "serve", "--port", str(port)]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"galactive serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"galactive serve did not answer in {START_TIMEOUT} s:\n{log.read_text()}")


def launch(playwright: Playwright) -> Browser:
    """Headless Debian Chromium through Playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def sign_in(page: Page, url: str, name: str, password: str) -> None:
    """Open the app, sign in, and wait for the label page's first galaxy."""
    page.goto(url)
    submit_sign_in(page, name, password)
    wait_for_galaxy(page)


def submit_sign_in(page: Page, name: str, password: str) -> None:
    """Sign in on the form this page shows and wait out the round trip that sets the cookie:
    the page draws once signed in, then the browser goes through the session route and loads
    the page again. Acting between the two races that navigation (a reload is refused as "not
    attached to an active page", a download is cancelled)."""
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    with page.expect_navigation(timeout=NAVIGATION_TIMEOUT_MS):
        page.get_by_role("button", name="Sign in").click()


def sign_out(page: Page) -> None:
    """Press Sign out and wait out the navigation that clears the cookie."""
    with page.expect_navigation(timeout=NAVIGATION_TIMEOUT_MS):
        page.get_by_role("button", name="Sign out").click()


def settled_error(page: Page, *, timeout: float = 30.0) -> str:
    """The error a form submission showed, once the rerun it started has finished (the
    script's status widget is gone and nothing on the page is stale). Call it on a page that
    showed no error before the submission: an earlier error could be read for this one's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = page.locator("[data-testid='stStatusWidget']").count()
        stale = page.locator("[data-stale='true']").count()
        alert = page.locator("[data-testid='stAlertContentError']")
        if not running and not stale and alert.count():
            return alert.first.inner_text()
        time.sleep(0.1)
    raise TimeoutError(
        f"no error shown within {timeout} s (running {running}, stale {stale}, "
        f"alerts {alert.count()})"
    )


def galaxy_heading(page: Page) -> str:
    """The label deck's heading: '<source id> · <task>'."""
    return page.locator(f"{DECK} h3").inner_text()


def deck_state(page: Page) -> str:
    """What the deck shows: "ready" (a galaxy), "waiting", "undoing" or "empty"."""
    return page.locator(DECK).get_attribute("data-state") or ""


def wait_for_galaxy(page: Page, *, other_than: str | None = None, timeout: float = 30.0) -> str:
    """Wait until the label deck shows a galaxy (one other than ``other_than``) with its
    image decoded and nothing on the page is stale; the deck's heading."""
    deadline = time.monotonic() + timeout
    text = None
    while time.monotonic() < deadline:
        if page.locator(DECK).count() and deck_state(page) == "ready":
            text = galaxy_heading(page)
            if (
                text != other_than
                and "·" in text
                and page.evaluate(DECODED)
                and not page.locator("[data-stale='true']").count()
            ):
                return text
        time.sleep(0.05)
    raise TimeoutError(f"no new galaxy within {timeout} s (still {text!r}, was {other_than!r})")


def wait_until(counted: Callable[[], bool], *, timeout: float = 30.0, what: str = "") -> None:
    """Wait until ``counted()`` holds (read from the database)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if counted():
            return
        time.sleep(0.1)
    raise TimeoutError(f"not within {timeout} s: {what}")


def pass_galaxy(page: Page, shown: str) -> str:
    """Press "n" (pass: nothing is written) and wait for the next galaxy; its heading."""
    page.keyboard.press("n")
    return wait_for_galaxy(page, other_than=shown)
