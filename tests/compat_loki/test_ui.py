"""The log viewer page: rendered, escaped, and live in headless Chromium (SPEC §5.2.4)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from compat_loki.records import LogRecord
from compat_loki.service import create_app
from compat_loki.settings import LogsSettings
from compat_loki.store import insert_entries
from core.context import ServiceContext
from core.labels import Labels
from tests.compat_loki.dockertree import Container
from tests.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss=2">'
needs_chromium = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="needs /usr/bin/chromium (apt-get install chromium)"
)


def test_page_renders_with_filters(loki_app: tuple[TestClient, ServiceContext]) -> None:
    client, ctx = loki_app
    ctx.writer.run_sync(
        lambda c: insert_entries(
            c, [LogRecord(Labels.of(container="<b>evil</b>", level="INFO"), 1, "x")]
        )
    )
    assert client.get("/", follow_redirects=False).headers["location"] == "/logs"
    page = client.get("/logs")
    assert page.status_code == 200
    html = page.text
    for needle in ('id="search"', 'id="container"', 'id="level"', 'value="7d"', 'id="live"'):
        assert needle in html
    assert "&lt;b&gt;evil&lt;/b&gt;" in html and "<b>evil</b>" not in html


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


@pytest.mark.browser
@needs_chromium
def test_live_tail_shows_a_docker_line_within_3s_and_escapes(
    make_settings: Callable[..., LogsSettings], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    docker = tmp_path / "containers"
    app_dir = Container(docker, "7" * 64, "rentl_prod")
    app_dir.ts = time.time_ns() - 60 * 10**9  # inside the page's default range (24h)
    app_dir.write("[INFO] existing line", "[ERROR] older failure with timeout")
    settings = make_settings(LogsSettings, {"LOG_SOURCES": str(docker), "POLL_INTERVAL": "1"})
    with LiveServer(create_app(settings)) as srv, sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 740})
            page.goto(srv.url + "/logs")
            expect(page.locator("#list")).to_contain_text("older failure", timeout=5000)
            # 375 px: nothing wider than the screen
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, width
            page.check("#live")
            expect(page.locator("#livestate")).to_contain_text("live", timeout=5000)
            app_dir.write(XSS, stream="stderr")
            written = time.monotonic()
            expect(page.locator("#list > div").first).to_contain_text(
                "window.__xss = 1", timeout=3000
            )
            assert time.monotonic() - written < 3
            assert page.evaluate("window.__xss") is None
            first = page.locator("#list > div").first
            first.locator("button").click()
            expect(first).to_contain_text("stream=stderr")
            expect(first).to_contain_text('"stream":"stderr"')  # raw JSON
            expect(first).to_contain_text("errors around this time")
            page.uncheck("#live")
            page.fill("#search", "TIMEOUT")
            expect(page.locator("#summary")).to_contain_text("1 shown of 1", timeout=3000)
            page.select_option("#level", "ERROR")
            page.fill("#search", "")
            expect(page.locator("#summary")).to_contain_text("of 2", timeout=3000)
            page.select_option("#range", "custom")
            expect(page.locator("#since")).to_be_visible()
        finally:
            browser.close()
