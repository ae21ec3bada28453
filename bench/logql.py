"""LogQL / Loki query API benchmark (issue 5): the issue's queries over 1,000,000 lines.

Builds the data set straight into a migrated SQLite file with ``store.insert_entries``
(24 h of lines: an ``app`` container writing JSON request logs, some with ``timeout`` and
5xx statuses, plus ``db``/``web``/``worker`` containers), then starts the real service
(``flowmon logs``) on 127.0.0.1 over that file and times each request through HTTP.

    .venv/bin/python bench/logql.py [--lines 1000000] [--runs 15] [--keep DIR]

Prints the median and p95 per query. Bounded: the build and each query have deadlines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compat_loki.records import LogRecord  # noqa: E402
from compat_loki.service import HEAD, MIGRATIONS  # noqa: E402
from compat_loki.store import insert_entries  # noqa: E402
from core import migrations  # noqa: E402
from core.db import connect, prepare_file  # noqa: E402
from core.labels import Labels  # noqa: E402

KEY = "bench-key-0123456789abcdef0123456789abcdef"
SEC = 1_000_000_000
DAY_NS = 86_400 * SEC
PATHS = ("/api/bookings", "/api/vehicles", "/health", "/api/users/me", "/api/payments/confirm")
BATCH = 20_000


def build(path: Path, n: int, now_ns: int, seed: int = 7) -> float:
    rnd = random.Random(seed)
    prepare_file(path)
    migrations.upgrade(path, MIGRATIONS, HEAD)
    conn = connect(path)
    streams = {
        (c, lvl): Labels.of(container=c, level=lvl, stream="stderr" if lvl == "ERROR" else "stdout")
        for c in ("app", "db", "web", "worker")
        for lvl in ("INFO", "WARN", "ERROR")
    }
    started = time.perf_counter()
    start = now_ns - DAY_NS
    batch: list[LogRecord] = []
    for i in range(n):
        ts = start + i * (DAY_NS // n)
        r = rnd.random()
        container = "app" if r < 0.55 else "db" if r < 0.7 else "web" if r < 0.9 else "worker"
        status = (
            rnd.choice((200, 200, 200, 201, 204, 302, 404, 500, 502, 503))
            if rnd.random() < 0.5
            else 200
        )
        level = "ERROR" if status >= 500 else "WARN" if status >= 400 else "INFO"
        if container == "app":
            fields = {
                "level": level.lower(),
                "method": rnd.choice(("GET", "POST")),
                "path": rnd.choice(PATHS),
                "status": status,
                "duration_ms": rnd.randrange(1, 2000),
            }
            if status >= 500 and rnd.random() < 0.3:
                fields["error"] = "upstream timeout after 30s"
            line = json.dumps(fields)
        else:
            job, took = rnd.randrange(10**6), rnd.randrange(1, 900)
            line = f"{level} {container} handled job {job} in {took}ms"
            if rnd.random() < 0.01:
                line += " (timeout)"
        batch.append(LogRecord(streams[(container, level)], ts, line))
        if len(batch) >= BATCH:
            conn.execute("BEGIN IMMEDIATE")
            insert_entries(conn, batch)
            conn.execute("COMMIT")
            batch = []
    if batch:
        conn.execute("BEGIN IMMEDIATE")
        insert_entries(conn, batch)
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--keep", default=None, help="folder for the work files (kept)")
    ap.add_argument("--reuse", default=None, help="a folder kept by an earlier --keep run")
    args = ap.parse_args()
    if args.reuse:
        work = Path(args.reuse)
        db = work / "data" / "logs.db"
        now = int((work / "now").read_text())
    else:
        work = Path(tempfile.mkdtemp(prefix="flowmon-bench-logql-", dir=args.keep))
        now = time.time_ns()
        db = work / "data" / "logs.db"
        db.parent.mkdir(parents=True)
        seconds = build(db, args.lines, now)
        (work / "now").write_text(str(now))
        size = db.stat().st_size / 2**20
        print(f"built {args.lines:,} lines in {seconds:.1f} s ({size:.0f} MiB)")
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(db.parent),
        "API_KEY": KEY,
        "LOGS_PORT": str(port),
        "LOG_SOURCES": str(work / "no-containers"),
        "MAX_ENTRIES": str(args.lines * 2),
        "LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen([str(ROOT / ".venv/bin/flowmon"), "logs"], env=env, cwd=str(ROOT))
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=120, headers={"X-API-Key": KEY}
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if http.get("/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the log store did not start")
            time.sleep(0.1)
        day = {"start": str(now - DAY_NS), "end": str(now)}
        six_h = {"start": str(now - DAY_NS // 4), "end": str(now), "step": "60s"}
        cases = [
            (
                '{container="app"} |= "timeout" (24 h, limit 100)',
                "/loki/api/v1/query_range",
                {**day, "query": '{container="app"} |= "timeout"', "limit": "100"},
                100,
            ),
            (
                'sum by (level) (count_over_time({container="app"}[1m])) (6 h, step 60 s)',
                "/loki/api/v1/query_range",
                {**six_h, "query": 'sum by (level) (count_over_time({container="app"}[1m]))'},
                100,
            ),
            (
                '{container="app"} | json | status >= 500 (24 h, limit 100)',
                "/loki/api/v1/query_range",
                {**day, "query": '{container="app"} | json | status >= 500', "limit": "100"},
                100,
            ),
            (
                '{container="app"} | json | status >= 500 (24 h, limit 1000)',
                "/loki/api/v1/query_range",
                {**day, "query": '{container="app"} | json | status >= 500', "limit": "1000"},
                100,
            ),
            ("labels", "/loki/api/v1/labels", day, 5),
            ("label/container/values", "/loki/api/v1/label/container/values", day, 5),
            ("series", "/loki/api/v1/series", {**day, "match[]": '{container="app"}'}, 5),
        ]
        print(f"{'query':70} {'median ms':>10} {'p95 ms':>8} {'goal ms':>8}")
        for name, path, params, goal in cases:
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                r = http.get(path, params=params)
                times.append((time.perf_counter() - t) * 1000)
                if r.status_code != 200:
                    raise RuntimeError(f"{name}: {r.status_code} {r.text[:200]}")
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            median = statistics.median(times)
            flag = "" if median <= goal else "  (over goal)"
            print(f"{name:70} {median:10.1f} {p95:8.1f} {goal:8d}{flag}")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        http.close()
        if args.keep is None and args.reuse is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
