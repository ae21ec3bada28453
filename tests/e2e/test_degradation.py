"""SPEC §9.2 graceful degradation, with real processes.

Latency: two demo apps run side by side, one reporting to the live stack and one whose
every client (SDK DSN, native error client, metrics collector) points at ports where
nothing listens, i.e. a stack that is stopped. Requests alternate between them, so this
machine's load (other suites share its two cores) falls on both alike, and the difference
of their median latencies measures what an unreachable stack costs per request (< 1 ms).
Comparing one app before and after stopping the stack instead measures mostly the load
drift between the two periods (it varied by several ms here).

Then the stack is really stopped: the connected demo keeps answering, its metrics buffer
stays within its bound and counts what it dropped, and when the stack comes back (same
DATA_DIR, same ports) metrics and errors flow again without restarting the demo; counter
increments made during the outage are not lost.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.stack import Demo, Stack, exposition, wait_until

PAIRS = 300
BUFFER = 100
AVAILABILITY = {"item_type": "bike", "date": "2030-01-01"}
TANDEM = {
    "item_type": "tandem",
    "customer_email": "x@example.com",
    "customer_phone": "1",
    "start_date": "2030-01-01",
    "days": 1,
}


def timed(client: httpx.Client) -> float:
    started = time.perf_counter()
    response = client.get("/availability", params=AVAILABILITY)
    took = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return took


def requests_served(stack: Stack) -> float:
    values = exposition(stack.get("metrics", "/metrics").text)
    return sum(
        v
        for k, v in values.items()
        if k.startswith("http_requests_total{") and 'endpoint="/availability"' in k
    )


def key_errors(stack: Stack) -> list[dict[str, Any]]:
    response = stack.get("errors", "/api/errors", project="flowrent", environment="demo")
    return [g for g in response.json()["errors"] if g["exception_type"] == "KeyError"]


@dataclass
class Setup:
    stack: Stack
    connected: Demo
    orphan: Demo


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    stack = Stack(tmp_path_factory.mktemp("degradation") / "data").start()
    connected = Demo(stack, flush_interval=0.3, buffer_size=BUFFER)
    orphan = Demo(stack, unreachable=True)
    try:
        connected.launch(), orphan.launch()
        connected.wait_ready(), orphan.wait_ready()
        yield Setup(stack, connected, orphan)
    finally:
        orphan.stop()
        connected.stop()
        stack.stop()


def test_an_unreachable_stack_adds_no_latency(setup: Setup) -> None:
    # A real exception whose report goes nowhere (own connection: a 500 closes it).
    assert httpx.post(setup.orphan.url + "/bookings", json=TANDEM).status_code == 500
    with (
        httpx.Client(base_url=setup.connected.url, timeout=10) as up,
        httpx.Client(base_url=setup.orphan.url, timeout=10) as down,
    ):
        for _ in range(30):
            timed(up), timed(down)
        pairs = [(timed(up), timed(down)) for _ in range(PAIRS)]
    stats = setup.orphan.monitoring()["metrics"]
    assert stats["failed_flushes"] > 0 and stats["sent"] == 0, "the orphan really is cut off"
    added = statistics.median(d for _, d in pairs) - statistics.median(u for u, _ in pairs)
    assert added < 0.001, f"median latency grew by {added * 1000:.3f} ms without the stack"


def test_demo_keeps_answering_while_the_stack_is_stopped_and_resumes(setup: Setup) -> None:
    stack, demo = setup.stack, setup.connected
    before = wait_until(lambda: requests_served(stack), 10, "the first requests counted")
    with httpx.Client(base_url=demo.url, timeout=10) as client:
        stack.stop()
        wait_until(lambda: demo.monitoring()["metrics"]["failed_flushes"], 10, "a failed flush")
        for _ in range(300):
            timed(client)
        assert httpx.post(demo.url + "/bookings", json=TANDEM).status_code == 500
        stats = wait_until(
            lambda: (m := demo.monitoring()["metrics"])["dropped"] > 0 and m,
            10,
            "dropped points to be counted",
        )
        assert stats["buffered"] <= BUFFER
        assert stats["last_error"]

        stack.start()  # same DATA_DIR and ports: the stack comes back
        sent_before = demo.monitoring()["metrics"]["sent"]
        for _ in range(20):
            timed(client)
        stats = wait_until(
            lambda: (
                (m := demo.monitoring()["metrics"])["sent"] > sent_before
                and m["last_error"] is None
                and m
            ),
            15,
            "metrics to flow again",
        )
        assert stats["buffered"] <= BUFFER
    # The latency test's requests were flushed before the stop; every one since counts.
    total = wait_until(
        lambda: (t := requests_served(stack)) >= before + 320 and t, 10, "every request counted"
    )
    assert total >= before + 320, "increments made during the outage were kept"
    assert httpx.post(demo.url + "/bookings", json=TANDEM).status_code == 500
    wait_until(lambda: key_errors(stack), 15, "the SDK to report again after the outage")
