"""The served app as an attacker meets it: headers, metrics, anonymous uploads, and names that
carry markdown, in real headless Chromium through ``galactive serve`` (docs/security.md)."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from app.services.auth import add_user
from app.web.session import COOKIE
from app.web.text import BREAK
from storage.db import session_scope
from storage.models import Galaxy, QueueItem, Survey
from tests.web import browser
from tests.web.conftest import PASSWORDS
from tests.worker.conftest import World

pytestmark = pytest.mark.slow
EVIL = "evil.example"
HOSTILE_ID = f"![x](http://{EVIL}/x.png) [y](http://{EVIL})"
HOSTILE_SURVEY = f"![s](http://{EVIL}/s.png) <img src=http://{EVIL}/h.png>"
HOSTILE_USER = f"**eve** [z](http://{EVIL}) eve@{EVIL}"


def _status(request: urllib.request.Request | str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers)


def test_headers_metrics_and_anonymous_uploads(browser_site: World, tmp_path: Path) -> None:
    settings = browser_site.copy(tmp_path)
    with browser.served(settings, tmp_path / "serve.log") as url:
        status, headers = _status(url + "/")
        assert status == 200
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "img-src 'self' data: blob:" in policy
        assert headers["x-frame-options"] == "DENY"
        assert _status(url + "/_stcore/metrics")[0] == 404
        # a browser session that never signed in offers 19 MB: refused before any is sent
        conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)
        conn.putrequest("PUT", f"/_stcore/upload_file/{uuid.uuid4()}/file")
        conn.putheader("Content-Length", str(19 << 20))
        conn.endheaders()
        assert conn.getresponse().status == 403
        conn.close()
        assert _status(url + "/_stcore/health")[0] == 200


def test_markdown_in_names_is_shown_as_text_and_fetches_nothing(
    browser_site: World, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    settings = browser_site.copy(tmp_path)
    engine = settings.engine()
    with session_scope(engine) as s:
        queued = select(QueueItem.galaxy_id).where(QueueItem.queue == "label")
        for gid in s.scalars(queued.distinct()):  # whichever galaxy comes first is hostile
            s.execute(
                update(Galaxy).where(Galaxy.id == gid).values(source_id=f"{HOSTILE_ID} {gid}")
            )
        add_user(s, HOSTILE_USER, "labeler", "eve-password")
        # a survey named before names were checked (storage refuses such a name now)
        s.execute(update(Survey).values(name=HOSTILE_SURVEY))
    engine.dispose()
    with browser.served(settings, tmp_path / "serve.log") as url, sync_playwright() as p:
        chromium = browser.launch(p)
        page = chromium.new_page(viewport={"width": 1400, "height": 1500})
        requests: list[str] = []
        console: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: console.append(m.text))
        browser.sign_in(page, url, HOSTILE_USER, "eve-password")
        heading = browser.galaxy_heading(page)
        sidebar = page.locator("[data-testid='stSidebar']").inner_text()
        hostile = f"a[href*='{EVIL}'], img[src*='{EVIL}'], a[href^='mailto']"
        links = page.locator(hostile).count()
        page.goto(f"{url}/reports")  # the report names the survey in its caption
        page.get_by_role("heading", name="Uncertainty report").wait_for(timeout=60_000)
        built = page.get_by_text("· validation split · built")
        built.wait_for(timeout=120_000)
        caption = built.inner_text()
        links += page.locator(hostile).count()
        chromium.close()
    assert heading.replace(BREAK, "").startswith(HOSTILE_ID)  # as typed, brackets and all
    assert HOSTILE_USER in sidebar.replace(BREAK, "")
    assert caption.replace(BREAK, "").startswith(HOSTILE_SURVEY)
    assert links == 0
    assert not [u for u in requests if EVIL in u]
    assert not [m for m in console if "Content Security Policy" in m], console


def test_ten_wrong_passwords_hold_the_right_one_back(browser_site: World, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    settings = browser_site.copy(tmp_path)
    # a minute's delay after the fifth failure, so no attempt here outlasts it, however slow
    # the machine (the doubling and the lock are timed in tests/services/test_auth.py)
    slow = {"GALACTIVE_SIGN_IN_DELAY": "60"}
    with browser.served(settings, tmp_path / "serve.log", env=slow) as url, sync_playwright() as p:
        chromium = browser.launch(p)
        page = chromium.new_page()
        messages = []
        for attempt in range(11):  # ten wrong passwords, then the right one
            # a fresh page each time, so the error read is this attempt's, however late its
            # rerun starts on a loaded machine (the throttle is kept by the server, not the page)
            page.goto(url)
            password = PASSWORDS["ada"] if attempt == 10 else f"wrong-{attempt}"
            page.get_by_role("textbox", name="User name").fill("ada")
            page.get_by_role("textbox", name="Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            messages.append(browser.settled_error(page))
        signed_in = page.get_by_text("Signed in as").count()
        chromium.close()
    assert messages[:5] == ["Unknown user name or wrong password."] * 5
    assert all(m.startswith("Too many failed sign-ins: try again in") for m in messages[5:]), (
        messages
    )
    assert signed_in == 0  # the right password waited its turn


def test_reload_and_deep_links_keep_the_user_and_sign_out_revokes(
    browser_site: World, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    settings = browser_site.copy(tmp_path)
    with browser.served(settings, tmp_path / "serve.log") as url, sync_playwright() as p:
        chromium = browser.launch(p)
        context = chromium.new_context()
        page = context.new_page()
        # a bookmark to the Models page asks for sign-in there, then shows that page
        page.goto(f"{url}/models")
        browser.submit_sign_in(page, "ada", PASSWORDS["ada"])
        page.get_by_role("heading", name="Models").wait_for(timeout=60_000)
        assert page.url.rstrip("/").endswith("/models")
        (cookie,) = [c for c in context.cookies() if c["name"] == COOKIE]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        page.reload()  # F5: still signed in, still on Models
        page.get_by_role("heading", name="Models").wait_for(timeout=60_000)
        other = context.new_page()  # a new tab on another page's address
        other.goto(f"{url}/reports")
        other.get_by_role("heading", name="Uncertainty report").wait_for(timeout=60_000)
        other.close()
        browser.sign_out(page)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        assert not [c for c in context.cookies() if c["name"] == COOKIE]
        # the old cookie, replayed by another browser, signs no one in: revoked on the server
        thief = chromium.new_context()
        thief.add_cookies([{"name": COOKIE, "value": cookie["value"], "url": url}])
        stolen = thief.new_page()
        stolen.goto(f"{url}/models")
        stolen.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        assert stolen.get_by_role("heading", name="Models").count() == 0
        chromium.close()
