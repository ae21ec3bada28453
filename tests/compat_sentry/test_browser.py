"""Headless Chromium (Playwright) on the live pages: escaping, HTMX buttons, 375 px width."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from compat_sentry.service import create_app
from compat_sentry.settings import ErrorsSettings
from tests.compat_sentry.conftest import (
    AUTH,
    FIXTURE_KEY,
    FIXTURE_PROJECT,
    _seed,
    add_project,
    load_fixture,
)
from tests.compat_sentry.test_api import native
from tests.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
XSS = '<script>window.__xss = 1; alert("xss")</script><img src=x onerror="window.__xss=2">'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium (apt-get install chromium)"
    ),
]


def _launch(playwright: Any) -> Any:
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    )


def test_script_message_renders_as_text_and_buttons_work(
    make_settings: Callable[..., Any], migrated_template: Path
) -> None:
    from playwright.sync_api import sync_playwright

    settings = make_settings(ErrorsSettings)
    _seed(settings, migrated_template)
    with LiveServer(create_app(settings)) as srv:
        body = native(message=XSS, request_url="/api/bookings?q=" + "x" * 300)
        created = httpx.post(srv.url + "/api/errors", json=body, headers=AUTH).json()
        with sync_playwright() as p:
            browser = _launch(p)
            try:
                page = browser.new_page(viewport={"width": 375, "height": 800})
                dialogs: list[str] = []
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                page.goto(srv.url + "/errors")
                assert XSS[:40] in page.inner_text("main")
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 375, f"the list is {width}px wide at a 375px viewport"
                page.goto(f"{srv.url}/errors/{created['id']}")
                assert page.inner_text("#group-message") == XSS
                assert page.evaluate("window.__xss") is None
                assert dialogs == []
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 375, f"page is {width}px wide at a 375px viewport"
                # HTMX resolve: the status swaps in place, no navigation.
                page.evaluate("window.__marker = 'same page'")
                page.click(f"#status-{created['id']} button")
                page.wait_for_selector(f"#status-{created['id']} >> text=Reopen")
                assert page.evaluate("window.__marker") == "same page"
                detail = httpx.get(f"{srv.url}/api/errors/{created['id']}", headers=AUTH).json()
                assert detail["resolved"] is True
                page.click(f"#status-{created['id']} button")
                page.wait_for_selector(f"#status-{created['id']} >> text=Resolve")
            finally:
                browser.close()


def test_sdk_event_detail_fits_a_phone(
    make_settings: Callable[..., Any], migrated_template: Path
) -> None:
    from playwright.sync_api import sync_playwright

    settings = make_settings(ErrorsSettings)
    _seed(settings, migrated_template)
    with LiveServer(create_app(settings)) as srv:
        add_project(srv.server.config.app, "fixtures", FIXTURE_KEY, FIXTURE_PROJECT)
        meta, body = load_fixture("fastapi-exception")
        headers = {k: v for k, v in meta["headers"] if k.lower() not in ("host", "content-length")}
        assert httpx.post(srv.url + meta["path"], content=body, headers=headers).status_code == 200
        listing = httpx.get(srv.url + "/api/errors", headers=AUTH).json()["errors"]
        group_id = next(g["id"] for g in listing if g["project"] == "fixtures")
        with sync_playwright() as p:
            browser = _launch(p)
            try:
                page = browser.new_page(viewport={"width": 375, "height": 800})
                page.goto(f"{srv.url}/errors/{group_id}")
                assert "ZeroDivisionError" in page.inner_text("main")
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 375, f"page is {width}px wide at a 375px viewport"
                assert page.locator("li.border-blue-400").count() >= 1
            finally:
                browser.close()
