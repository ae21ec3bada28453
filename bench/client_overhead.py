"""What flowrent_patch costs FlowRent per request, and what its buffer holds in an outage.

1. Overhead: the demo app (``flowrent_patch.demo``) is called through its ASGI interface
   in-process (no sockets, so network jitter does not hide microseconds), once *bare*
   (no SDK, no metrics client: the middleware is installed but idle) and once
   *instrumented* (stock sentry-sdk initialised with a DSN, request-metrics middleware
   recording into a metrics client whose flush thread posts to a local HTTP server every
   10 s, JSON logging). Each mode runs in its own process (the SDK patches Starlette
   globally), alternating bare / instrumented over several rounds so machine-load drift
   falls on both. Printed: median and p99 per request of each, and their difference.
   Goal (issue 8): < 0.2 ms median overhead.

2. Outage memory: a metrics client pointed at a port where nothing listens receives what
   the middleware records at 100 requests/s for 10 simulated minutes (a realistic label
   mix), with a failed flush every simulated 10 s. Printed: the buffer's memory
   each simulated minute, points held, points dropped, for the default bound
   (METRICS_BUFFER_SIZE=10,000) and, for comparison, with no effective bound.
   Memory is the deep size of the buffer's objects (sys.getsizeof over containers,
   tuples, floats, strings, each object counted once), taken after each failed flush.

Run: ``.venv/bin/python bench/client_overhead.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REQUESTS_PER_ROUND = 3000
ROUNDS = 5
PATHS = ["/health", "/availability?item_type=bike&date=2030-01-01", "/bookings/1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Sink(BaseHTTPRequestHandler):
    """Answers the SDK (200) and the metrics client (202) like the stack would."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"status":"accepted"}'
        self.send_response(202 if self.path.startswith("/api/metrics") else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


async def call(app: Any, path: str) -> int:
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"flowrent.local"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 5002),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def measure(mode: str, port: int) -> list[float]:
    """One process, one mode: the per-request times in seconds."""
    import logging

    from flowrent_patch import metrics_client
    from flowrent_patch.demo.app import create_app
    from flowrent_patch.demo.config import DemoSettings

    data = Path(tempfile.mkdtemp())
    settings: dict[str, Any] = {
        "demo_db_path": data / "demo.db",
        "demo_job_interval": 3600,
        "log_level": "WARNING",
    }
    if mode == "instrumented":
        settings |= {
            "sentry_dsn": f"http://0123456789abcdef@127.0.0.1:{port}/1",
            "metrics_collector_url": f"http://127.0.0.1:{port}",
            "metrics_collector_api_key": "k" * 32,
            "error_tracker_url": f"http://127.0.0.1:{port}",
        }
    app = create_app(DemoSettings(**settings))
    logging.getLogger().setLevel(logging.WARNING)  # access logs are FlowRent's either way
    client = metrics_client.default_client()
    if client is not None:
        client.start()

    async def run() -> list[float]:
        for i in range(300):  # warm up: imports, caches, SQLite pages
            await call(app, PATHS[i % len(PATHS)])
        times = []
        for i in range(REQUESTS_PER_ROUND):
            started = time.perf_counter()
            status = await call(app, PATHS[i % len(PATHS)])
            times.append(time.perf_counter() - started)
            assert status in (200, 404), status
        return times

    times = asyncio.run(run())
    if client is not None:
        client.stop()
        assert client.stats()["sent"] > 0, "the instrumented run really sent metrics"
    return times


def overhead() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    samples: dict[str, list[float]] = {"bare": [], "instrumented": []}
    for _ in range(ROUNDS):
        for mode in ("bare", "instrumented"):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", mode, str(port)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            samples[mode] += json.loads(out.stdout.strip().splitlines()[-1])
    server.shutdown()
    print(f"per-request time, demo app via ASGI, {ROUNDS} x {REQUESTS_PER_ROUND} requests/mode")
    stats = {}
    for mode, times in samples.items():
        median = statistics.median(times) * 1000
        p99 = statistics.quantiles(times, n=100)[98] * 1000
        stats[mode] = (median, p99)
        print(f"  {mode:13s} median {median:.3f} ms   p99 {p99:.3f} ms")
    d_median = stats["instrumented"][0] - stats["bare"][0]
    d_p99 = stats["instrumented"][1] - stats["bare"][1]
    verdict = "meets" if d_median < 0.2 else "MISSES"
    print(f"  overhead      median {d_median:.3f} ms   p99 {d_p99:.3f} ms")
    print(f"  {verdict} the < 0.2 ms median goal")


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes held by a buffer: containers, tuples, floats and strings, each object once."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, tuple | list | deque):
        size += sum(deep_size(x, seen) for x in obj)
    return size


def buffer_bytes(client: Any) -> int:
    seen: set[int] = set()
    parts = (client._counters, client._gauges, client._observations, client._interned)
    return sum(deep_size(part, seen) for part in parts)


def outage(max_points: int) -> None:
    from flowrent_patch.metrics_client import MetricsClient
    from flowrent_patch.middleware import DURATION_SECONDS, IN_PROGRESS, REQUESTS_TOTAL

    endpoints = [
        ("GET", "/availability"),
        ("POST", "/bookings"),
        ("GET", "/bookings/{booking_id}"),
        ("POST", "/bookings/{booking_id}/confirm"),
        ("POST", "/bookings/{booking_id}/cancel"),
        ("POST", "/bookings/{booking_id}/payment"),
        ("GET", "/health"),
        ("GET", "<unmatched>"),
    ]
    statuses = ["200", "200", "200", "201", "404", "409", "422", "500"]
    client = MetricsClient(f"http://127.0.0.1:{free_port()}", "k" * 32, max_points=max_points)
    rate, minutes, flush_every = 100, 10, 10
    peak = 0
    report = []
    for second in range(minutes * 60):
        for i in range(rate):
            method, endpoint = endpoints[(second * rate + i) % len(endpoints)]
            # a new dict per request, as the middleware builds one
            labels = {"method": method, "endpoint": endpoint, "status": statuses[i % 8]}
            client.gauge(IN_PROGRESS, None, 1)
            client.counter(REQUESTS_TOTAL, labels)
            client.histogram(DURATION_SECONDS, labels, 0.002 + (i % 50) / 1000)
            client.gauge(IN_PROGRESS, None, 0)
        if second % flush_every == flush_every - 1:
            assert not client.flush()
            if second % 60 == 59:
                held = buffer_bytes(client)
                peak = max(peak, held)
                report.append((second // 60 + 1, held, client.buffered, client.dropped))
    bound = "unbounded" if max_points >= 10**8 else f"METRICS_BUFFER_SIZE={max_points:,}"
    print(f"collector down for 10 simulated minutes at {rate} req/s ({bound}):")
    for minute, held, points, dropped in (r for r in report if r[0] in (1, 2, 5, 10)):
        print(
            f"  minute {minute:2d}: {held / 1e6:5.2f} MB held, "
            f"{points:,} points buffered, {dropped:,} dropped"
        )
    failed = client.stats()["failed_flushes"]
    per_point = peak / max(client.buffered, 1)
    print(f"  peak {peak / 1e6:.2f} MB ({per_point:.0f} B/point), {failed} failed flushes")


def main() -> None:
    if sys.argv[1:2] == ["--measure"]:
        times = measure(sys.argv[2], int(sys.argv[3]))
        print(json.dumps(times))
        return
    os.environ.pop("SENTRY_DSN", None)
    import logging

    logging.getLogger("flowrent_patch").setLevel(logging.ERROR)  # the outage warnings
    overhead()
    print()
    outage(10_000)
    outage(10**9)


if __name__ == "__main__":
    main()
