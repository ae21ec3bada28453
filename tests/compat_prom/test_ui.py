"""The dashboard in headless Chromium: charts drawn with data, 375 px wide, fast with 24 h."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from compat_prom import maintenance, store
from compat_prom.service import create_app
from compat_prom.settings import MetricsSettings
from core.labels import Labels
from tests.conftest import TEST_KEY, LiveServer

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip
ENDPOINTS = ("/bookings", "/api/availability", "/items")


def seed_24h(srv: LiveServer) -> None:
    """24 h of FlowRent-shaped data (1 sample/min per series) through the store, rolled up."""
    ctx = srv.server.config.app.state.ctx
    rng = random.Random(5)
    now = int(time.time() * 1000) // 60_000 * 60_000
    start = now - 24 * store.HOUR_MS
    minutes = list(range(start, now, 60_000))
    batch = []
    for ep in ENDPOINTS:
        for status in ("200", "500"):
            total, values = 0.0, []
            for _ in minutes:
                total += rng.randint(5, 30) if status == "200" else rng.randint(0, 2)
                values.append(total)
            lab = Labels(
                {
                    "__name__": "http_requests_total",
                    "endpoint": ep,
                    "status": status,
                    "method": "GET",
                }
            )
            batch.append((lab, minutes, values))
    ctx.writer.run_sync(lambda c: store.append_samples(c, batch))

    def observe(c: Any) -> None:
        for ep in ENDPOINTS:
            lab = Labels(
                {
                    "__name__": "http_request_duration_seconds",
                    "endpoint": ep,
                    "status": "200",
                    "method": "GET",
                }
            )
            sid = store.ensure_series(c, lab, start, now, store.KIND_OBSERVATIONS)
            store.add_observations(
                c, [(sid, m + i, rng.expovariate(8)) for m in minutes for i in range(3)]
            )

    ctx.writer.run_sync(observe)
    labels = {"endpoint": "/bookings", "status": "200", "method": "GET"}
    item = {"name": "http_requests_total", "type": "counter", "labels": labels, "value": 1}
    r = httpx.post(
        srv.url + "/api/metrics", headers={"X-API-Key": TEST_KEY}, json={"metrics": [item]}
    )
    assert r.status_code == 202
    loop = srv.server.servers[0].get_loop()  # the live server's event loop
    asyncio.run_coroutine_threadsafe(maintenance.aggregate(ctx), loop).result(120)


@pytest.mark.browser
def test_dashboard_renders_charts_with_data(make_settings: Callable[..., Any]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium missing: apt-get install -y chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with LiveServer(create_app(make_settings(MetricsSettings))) as srv:
        seed_24h(srv)
        for period in ("1h", "24h", "7d"):  # the page with 24 h of data answers in < 1 s
            best = 9.9
            for _ in range(3):  # best of three: the shared test box is often loaded
                t0 = time.perf_counter()
                assert httpx.get(f"{srv.url}/dashboard?period={period}").status_code == 200
                best = min(best, time.perf_counter() - t0)
            assert best < 1.0, (period, best)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 375, "height": 800})
                for period in ("1h", "24h", "7d"):
                    t0 = time.perf_counter()
                    page.goto(f"{srv.url}/dashboard?period={period}")
                    page.wait_for_selector("body[data-charts-ready='1']", timeout=10_000)
                    # rendering included; generous for a loaded CI box (server part < 1 s above)
                    assert time.perf_counter() - t0 < 5.0, period
                    for chart in ("chart-requests", "chart-latency", "chart-errors"):
                        points = page.get_attribute(f"#{chart} .uplot", "data-points")
                        assert points is not None and int(points) > 0, (period, chart)
                        painted = page.evaluate(
                            """(id) => { const c = document.querySelector('#' + id + ' canvas');
                            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                            return n; }""",
                            chart,
                        )
                        assert painted > 500, (period, chart, painted)
                    rows = page.locator("#top-endpoints tbody tr").count()
                    assert rows == len(ENDPOINTS)
                    width = page.evaluate("document.documentElement.scrollWidth")
                    assert width <= 375, width
                assert "/bookings" in page.inner_text("#top-endpoints")
            finally:
                browser.close()
