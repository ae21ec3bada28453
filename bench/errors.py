"""Error tracker benchmark (issue 3): SDK-shaped envelopes over HTTP at concurrency 1/4/16.

Runs the real service as a subprocess (``flowmon errors``) on 127.0.0.1 with a temporary
DATA_DIR, and in the same run a bare ASGI app (uvicorn, same loop and HTTP parser) that
only reads the body and answers ``{"id": ...}``: the difference is what ingest costs.

Load: brotli (quality 4, as sentry-python sends when ``brotli`` is installed) envelopes of
~5 KB raw, each one event with a two-exception chain, framework frames with source
context and locals, request, user, tags, breadcrumbs and contexts; 5 code locations, so
5 groups. Every event has its own event_id. The client is a small asyncio HTTP/1.1
keep-alive client (httpx would spend more CPU than the server on this 2-core machine).

Printed per concurrency: events accepted/s (HTTP 200), events processed/s (visible in the
group counts of ``/health``, which the service commits before answering), p50/p95/p99
latency, server RSS; then SQLite bytes per stored event, measured in a second run with
EVENTS_PER_GROUP large enough that nothing is trimmed.

    .venv/bin/python bench/errors.py [--requests 3000] [--seconds 15]

Bounded: each level stops after ``--requests`` or ``--seconds``; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import brotli
import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key-0123456789abcdef0123456789abcdef"
LOCATIONS = [
    ("/app/app/routes/bookings.py", 142, "create_booking", "ValueError"),
    ("/app/app/routes/payments.py", 88, "confirm_payment", "KeyError"),
    ("/app/app/services/email.py", 31, "send_confirmation", "TimeoutError"),
    ("/app/app/models/vehicle.py", 207, "reserve", "IntegrityError"),
    ("/app/app/scheduler/jobs.py", 54, "nightly_invoices", "ZeroDivisionError"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- load --------------------------------------------------------------------------------


def _frame(path: str, line: int, function: str, in_app: bool, rnd: random.Random) -> dict[str, Any]:
    code = [f"    value_{i} = compute_{i}(request, session)" for i in range(5)]
    return {
        "filename": path.rsplit("/", 1)[-1],
        "abs_path": path,
        "function": function,
        "module": path.strip("/").replace("/", ".").removesuffix(".py"),
        "lineno": line,
        "pre_context": code[:3],
        "context_line": f"    result = {function}(payload, user_id={rnd.randrange(1000)})",
        "post_context": code[3:],
        "vars": {"payload": "{'id': 4711, 'days': 3}", "user_id": str(rnd.randrange(1000))},
        "in_app": in_app,
    }


def make_event(location: int, rnd: random.Random) -> dict[str, Any]:
    path, line, function, exc_type = LOCATIONS[location]
    lib = "/app/.venv/lib/python3.11/site-packages/starlette/routing.py"
    frames = [_frame(lib, 70 + i, "app", False, rnd) for i in range(3)]
    frames.append(_frame(path, line, function, True, rnd))
    cause = [_frame("/app/app/db.py", 12, "query", True, rnd)]
    return {
        "event_id": uuid.uuid4().hex,
        "timestamp": time.time(),
        "platform": "python",
        "level": "error",
        "environment": "prod",
        "release": "flowrent@2.4.1",
        "server_name": "vps-1",
        "transaction": "/api/bookings/{booking_id}",
        "exception": {
            "values": [
                {"type": "OperationalError", "value": "database is locked",
                 "module": "sqlite3", "stacktrace": {"frames": cause},
                 "mechanism": {"type": "chained", "handled": True}},
                {"type": exc_type, "value": f"cannot process booking {rnd.randrange(10**6)}",
                 "stacktrace": {"frames": frames},
                 "mechanism": {"type": "starlette", "handled": False}},
            ]
        },
        "request": {
            "url": "https://flowrent.example/api/bookings/4711",
            "method": "POST",
            "query_string": "retry=1",
            "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)", "Accept": "*/*",
                        "Content-Type": "application/json", "X-Request-Id": uuid.uuid4().hex},
        },
        "user": {"id": str(rnd.randrange(10_000))},
        "tags": {"route": "bookings", "worker": str(rnd.randrange(4))},
        "breadcrumbs": {"values": [
            {"timestamp": time.time(), "category": "query", "level": "info",
             "message": f"SELECT * FROM bookings WHERE id = {rnd.randrange(10**5)}"}
            for _ in range(4)
        ]},
        "contexts": {
            "runtime": {"name": "CPython", "version": "3.11.7"},
            "os": {"name": "Linux", "version": "6.1"},
            "trace": {"trace_id": uuid.uuid4().hex, "span_id": uuid.uuid4().hex[:16]},
        },
        "sdk": {"name": "sentry.python.fastapi", "version": "2.75.0"},
    }  # fmt: skip


def make_body(location: int, rnd: random.Random) -> tuple[bytes, int]:
    event = make_event(location, rnd)
    payload = json.dumps(event, separators=(",", ":")).encode()
    header = json.dumps({"event_id": event["event_id"], "sent_at": "2026-11-25T00:00:00Z"})
    item = json.dumps({"type": "event", "content_type": "application/json", "length": len(payload)})
    raw = header.encode() + b"\n" + item.encode() + b"\n" + payload + b"\n"
    return brotli.compress(raw, quality=4), len(raw)


# --- client ------------------------------------------------------------------------------


async def run_level(
    port: int, path: str, head: bytes, bodies: list[bytes], concurrency: int, seconds: float
) -> tuple[list[float], dict[int, int], float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = iter(bodies)
    stop_at = time.monotonic() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop_at:
                body = next(queue, None)
                if body is None:
                    return
                request = (
                    (
                        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                        f"Content-Length: {len(body)}\r\n"
                    ).encode()
                    + head
                    + b"\r\n"
                    + body
                )
                start = time.perf_counter()
                writer.write(request)
                await writer.drain()
                raw = await reader.readuntil(b"\r\n\r\n")
                lines = raw.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                length = next(
                    int(h.split(":", 1)[1])
                    for h in lines
                    if h.lower().startswith("content-length:")
                )
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000


# --- servers -----------------------------------------------------------------------------


class Process:
    def __init__(self, args: list[str], env: dict[str, str], port: int) -> None:
        self.port = port
        self.proc = subprocess.Popen(args, env=env, cwd=str(ROOT))
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{args} did not start")
            time.sleep(0.1)

    def rss_mb(self) -> tuple[float, float]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def start_tracker(data: Path, events_per_group: int) -> tuple[Process, str]:
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data),
        "API_KEY": KEY,
        "ERRORS_PORT": str(port),
        "RATE_LIMIT_PER_MINUTE": "1000000000",
        "EVENTS_PER_GROUP": str(events_per_group),
        "LOG_LEVEL": "warning",
    }
    proc = Process([str(ROOT / ".venv/bin/flowmon"), "errors"], env, port)
    conn = sqlite3.connect(f"file:{data / 'errors.db'}?mode=ro", uri=True)
    project_id, public_key = conn.execute(
        "SELECT id, public_key FROM projects WHERE name = 'flowrent'"
    ).fetchone()
    conn.close()
    head = (
        f"X-Sentry-Auth: Sentry sentry_key={public_key}, sentry_version=7, "
        "sentry_client=sentry.python/2.75.0\r\n"
        "Content-Type: application/x-sentry-envelope\r\nContent-Encoding: br\r\n"
    ).encode()
    return proc, f"/api/{project_id}/envelope/|" + head.decode()


async def baseline_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: read the whole body, answer like Sentry. Nothing else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = b'{"id":"00000000000000000000000000000000"}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def serve_baseline(port: int) -> None:
    import uvicorn

    uvicorn.run(baseline_app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


# --- main --------------------------------------------------------------------------------


def occurrences(port: int) -> int:
    return int(httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()["occurrences"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000, help="per concurrency level")
    parser.add_argument("--seconds", type=float, default=15.0, help="per concurrency level")
    parser.add_argument("--serve-baseline", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0
    rnd = random.Random(3)
    levels = (1, 4, 16)
    print(f"building {args.requests * len(levels)} envelopes ...", flush=True)
    sets = []
    raw_sizes = []
    for _ in levels:
        made = [make_body(i % len(LOCATIONS), rnd) for i in range(args.requests)]
        sets.append([b for b, _ in made])
        raw_sizes += [r for _, r in made]
    sent_sizes = [len(b) for s in sets for b in s]
    print(
        f"envelope: {statistics.mean(raw_sizes) / 1024:.1f} KB raw, "
        f"{statistics.mean(sent_sizes) / 1024:.1f} KB brotli; {len(LOCATIONS)} code locations"
    )
    results: list[str] = []
    with tempfile.TemporaryDirectory(prefix="flowmon-bench-errors-") as tmp:
        # 1. the bare ASGI baseline
        port = free_port()
        script = [sys.executable, str(Path(__file__).resolve()), "--serve-baseline", str(port)]
        base = Process(script, dict(os.environ), port)
        head = b"Content-Type: application/x-sentry-envelope\r\nContent-Encoding: br\r\n"
        try:
            for level, bodies in zip(levels, sets, strict=True):
                lat, statuses, took = asyncio.run(
                    run_level(port, "/api/1/envelope/", head, bodies, level, args.seconds)
                )
                ok = statuses.get(200, 0)
                results.append(
                    f"bare ASGI   c={level:<3} {ok / took:8.0f} req/s            "
                    f"p50 {pct(lat, 0.5):6.2f} ms  p95 {pct(lat, 0.95):6.2f} ms  "
                    f"p99 {pct(lat, 0.99):6.2f} ms  RSS {base.rss_mb()[0]:5.1f} MB"
                )
                print(results[-1], flush=True)
        finally:
            base.stop()
        # 2. the error tracker, default EVENTS_PER_GROUP
        tracker, route = start_tracker(Path(tmp) / "run", 100)
        path, head_text = route.split("|", 1)
        try:
            for level, bodies in zip(levels, sets, strict=True):
                before = occurrences(tracker.port)
                lat, statuses, took = asyncio.run(
                    run_level(tracker.port, path, head_text.encode(), bodies, level, args.seconds)
                )
                ok = statuses.get(200, 0)
                processed = occurrences(tracker.port) - before
                rss, peak = tracker.rss_mb()
                results.append(
                    f"errors      c={level:<3} {ok / took:8.0f} accepted/s "
                    f"{processed / took:6.0f} processed/s  "
                    f"p50 {pct(lat, 0.5):6.2f} ms  p95 {pct(lat, 0.95):6.2f} ms  "
                    f"p99 {pct(lat, 0.99):6.2f} ms  RSS {rss:5.1f} MB (peak {peak:.1f})"
                    + ("" if set(statuses) == {200} else f"  statuses {statuses}")
                )
                print(results[-1], flush=True)
        finally:
            tracker.stop()
        # 3. bytes per stored event, nothing trimmed
        data = Path(tmp) / "size"
        tracker, route = start_tracker(data, 10_000_000)
        path, head_text = route.split("|", 1)
        try:
            asyncio.run(run_level(tracker.port, path, head_text.encode(), sets[1], 4, 60))
        finally:
            tracker.stop()
        conn = sqlite3.connect(str(data / "errors.db"))
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        conn.close()
        size = (data / "errors.db").stat().st_size
        results.append(
            f"SQLite: {size / max(events, 1):.0f} bytes per stored event "
            f"({events} events, {size / 1e6:.1f} MB file after checkpoint)"
        )
        print(results[-1])
    print("\nsummary\n" + "\n".join(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
