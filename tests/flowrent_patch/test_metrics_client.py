"""Metrics client (SPEC §7.3.1) against a real HTTP server standing in for the collector."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

from fastapi import FastAPI

from flowrent_patch import metrics_client
from flowrent_patch.metrics_client import MetricsClient
from flowrent_patch.settings import MonitoringSettings
from tests.conftest import TEST_KEY, LiveServer
from tests.flowrent_patch.capture import CaptureServer, dead_url


def points(server: CaptureServer) -> list[dict[str, Any]]:
    return [p for r in server.requests for p in r.json()["metrics"]]


def counter_totals(items: list[dict[str, Any]]) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    totals: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for p in items:
        if p["type"] == "counter":
            totals[(p["name"], tuple(sorted(p["labels"].items())))] += p["value"]
    return totals


def test_one_request_per_flush_with_counters_as_increments() -> None:
    with CaptureServer() as collector:
        client = MetricsClient(collector.url + "/", TEST_KEY)
        for _ in range(3):
            client.counter("booking_created_total", {"rental_item_type": "bike"})
        client.counter("booking_created_total", {"rental_item_type": "ebike"}, 2)
        client.histogram("job_duration_seconds", {"job_name": "reminders"}, 0.25)
        client.histogram("job_duration_seconds", {"job_name": "reminders"}, 0.5)
        client.gauge("active_rentals", None, 3)
        client.gauge("active_rentals", None, 4)
        assert client.flush()
        assert client.flush(), "an empty buffer sends nothing"
        client.counter("booking_created_total", {"rental_item_type": "bike"})
        assert client.flush()
    assert len(collector.requests) == 2
    first = collector.requests[0]
    assert first.path == "/api/metrics"
    assert first.headers["X-API-Key"] == TEST_KEY
    assert first.headers["Content-Type"] == "application/json"
    batch = first.json()["metrics"]
    counters = sorted(
        (p["labels"]["rental_item_type"], p["value"]) for p in batch if p["type"] == "counter"
    )
    assert counters == [("bike", 3), ("ebike", 2)]
    hist = [p for p in batch if p["type"] == "histogram"]
    assert [p["value"] for p in hist] == [0.25, 0.5]
    assert all(p["timestamp"].endswith("Z") for p in hist)
    assert [p["value"] for p in batch if p["type"] == "gauge"] == [4]
    second = collector.requests[1].json()["metrics"]
    assert second == [
        {
            "name": "booking_created_total",
            "type": "counter",
            "labels": {"rental_item_type": "bike"},
            "value": 1,
        }
    ]
    assert client.stats()["sent"] == 6


def test_recording_is_safe_from_threads_and_the_event_loop() -> None:
    with CaptureServer() as collector:
        # A bound no flush lag can reach: this test is about losing nothing to races.
        client = MetricsClient(collector.url, TEST_KEY, flush_interval=0.01, max_points=10**6)
        client.start()

        def hammer() -> None:
            for i in range(2000):
                client.counter("http_requests_total", {"status": str(200 + i % 2)})
                client.histogram("http_request_duration_seconds", None, 0.001)

        async def tasks() -> None:
            async def one() -> None:
                for _ in range(500):
                    client.counter("http_requests_total", {"status": "200"})
                    await asyncio.sleep(0)

            await asyncio.gather(*(one() for _ in range(8)))

        threads = [threading.Thread(target=hammer) for _ in range(6)]
        for t in threads:
            t.start()
        asyncio.run(tasks())
        for t in threads:
            t.join()
        client.stop()
    totals = counter_totals(points(collector))
    assert totals[("http_requests_total", (("status", "200"),))] == 6 * 1000 + 8 * 500
    assert totals[("http_requests_total", (("status", "201"),))] == 6 * 1000
    hist = [p for p in points(collector) if p["type"] == "histogram"]
    assert len(hist) == 6 * 2000
    assert client.dropped == 0
    assert len(collector.requests) > 1, "the background thread flushed along the way"


def test_buffer_is_bounded_while_down_and_resumes_without_losing_counters() -> None:
    url = dead_url()
    port = int(url.rsplit(":", 1)[1])
    client = MetricsClient(url, TEST_KEY, max_points=100, timeout=1)
    for _ in range(1000):
        client.counter("http_requests_total", {"endpoint": "/bookings"})
    for i in range(500):
        client.histogram("http_request_duration_seconds", None, i / 1000)
    assert client.buffered == 100
    assert client.dropped == 401  # 1 counter point + 500 observations, 100 kept
    assert not client.flush()
    for i in range(50):
        client.histogram("http_request_duration_seconds", None, 1 + i / 1000)
    assert not client.flush()
    stats = client.stats()
    assert stats["buffered"] == 100
    assert stats["dropped"] == 451
    assert stats["failed_flushes"] == 2
    assert stats["last_error"]
    with CaptureServer(port=port) as collector:
        assert client.flush()
    batch = points(collector)
    assert counter_totals(batch)[("http_requests_total", (("endpoint", "/bookings"),))] == 1000
    values = [p["value"] for p in batch if p["type"] == "histogram"]
    assert len(values) == 99
    assert values[-1] == 1.049, "the newest observations are kept, the oldest dropped"
    assert client.buffered == 0


def test_server_errors_keep_the_batch_client_errors_drop_it() -> None:
    with CaptureServer(status=503, reply={}) as collector:
        client = MetricsClient(collector.url, TEST_KEY)
        client.counter("email_sent_total", {"template": "confirmation"})
        assert not client.flush()
        assert client.buffered == 1
        collector.status = 400
        assert not client.flush()
        assert client.buffered == 0
        assert client.dropped == 1
        collector.status = 202
        collector.reply = {"status": "accepted", "count": 0, "rejected": [{"index": 0}]}
        client.counter("email_sent_total", {"template": "confirmation"})
        assert client.flush()
    assert len(collector.requests) == 3


def test_background_flush_and_flush_on_stop() -> None:
    with CaptureServer() as collector:
        client = MetricsClient(collector.url, TEST_KEY, flush_interval=0.05)
        client.start()
        client.counter("job_executed_total", {"job_name": "a", "status": "success"})
        collector.wait_for(1, timeout=5)
        client.counter("job_executed_total", {"job_name": "b", "status": "success"})
        client.flush_interval = 60
        time.sleep(0.1)
        client.stop()
    names = [p["labels"]["job_name"] for p in points(collector)]
    assert names == ["a", "b"]


def test_module_functions_follow_settings() -> None:
    assert metrics_client.configure(MonitoringSettings()) is None
    metrics_client.counter("x_total")  # no collector configured: a no-op
    assert metrics_client.flush()
    with CaptureServer() as collector:
        settings = MonitoringSettings(
            metrics_collector_url=collector.url,
            metrics_collector_api_key=TEST_KEY,
            metrics_flush_interval=5,
            metrics_buffer_size=10,
        )
        client = metrics_client.configure(settings)
        assert client is not None
        assert (client.flush_interval, client.max_points) == (5, 10)
        metrics_client.counter("payment_received_total", {"method": "card"})
        metrics_client.histogram("h", None, 1)
        metrics_client.gauge("g", {}, 2)
        assert metrics_client.flush()
    assert {p["name"] for p in points(collector)} == {"payment_received_total", "h", "g"}


def test_lifespan_flushes_on_shutdown() -> None:
    with CaptureServer() as collector:
        client = MetricsClient(collector.url, TEST_KEY, flush_interval=60)

        async def lifespan(app: FastAPI) -> Any:
            async with client.running():
                yield

        app = FastAPI(lifespan=lifespan)

        @app.get("/")
        def index() -> dict[str, bool]:
            client.counter("visits_total")
            return {"ok": True}

        import httpx

        with LiveServer(app) as srv:
            assert httpx.get(srv.url + "/").status_code == 200
            assert collector.requests == []
    assert [p["name"] for p in points(collector)] == ["visits_total"]


def test_bound_holds_when_new_series_arrive_during_a_failing_flush() -> None:
    with CaptureServer(status=503, reply={}, delay=0.5) as collector:
        client = MetricsClient(collector.url, TEST_KEY, max_points=10)
        for i in range(10):
            client.counter("c_total", {"n": i})
        flushing = threading.Thread(target=client.flush)
        flushing.start()
        collector.wait_for(1)  # the batch is in flight: the buffer is empty meanwhile
        for i in range(10, 25):
            client.counter("c_total", {"n": i})
        flushing.join()
    assert client.buffered == 10, "put back, then trimmed to the bound"
    assert client.dropped == 15
