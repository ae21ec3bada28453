"""PromQL / Prometheus query API benchmark (issue 7).

Data set: ~1,000 series shaped like a Prometheus scraping FlowRent for 24 h at 15 s
(``http_requests_total{method,endpoint,status}`` 200 series, ``http_request_duration_
seconds_bucket{endpoint,le}`` 240 + ``_sum``/``_count`` 40, 520 process/node gauges:
5.76 M samples), written with ``store.append_samples`` into a temporary SQLite file, packed
into chunks, rolled up into minute/hour aggregates by the rollup job's ``step``, and then
RETENTION_RAW=1h applied as the service does - so the last hour is raw and older windows
come from the rollups (panels with a step of a minute or more read rollups throughout).

Timed (median of several runs, through ``api_calls``: parse + evaluate + JSON text, on one
read connection, as ``/api/v1/query_range`` does minus HTTP): the issue's four panel queries
over 1 h @ 15 s, 24 h @ 60 s and 24 h @ 15 s, then ``labels``, ``label/__name__/values``,
``series`` and ``metadata``. Run: ``.venv/bin/python bench/promql.py`` (~2-3 min on 2 cores).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compat_prom import maintenance, rollup, store  # noqa: E402
from compat_prom.query.api_calls import (  # noqa: E402
    Params,
    QueryOptions,
    label_names,
    label_values,
    range_query,
    series,
)
from compat_prom.service import HEAD, MIGRATIONS  # noqa: E402
from core import memory, migrations  # noqa: E402
from core.db import connect, prepare_file  # noqa: E402
from core.labels import Labels, Matcher  # noqa: E402

STEP_MS = 15_000
# the most a live collector's head holds: the grace period and the open block's settled
# part (maintenance.py), plus the minute between compaction runs
LIVE_HEAD_MINUTES = (maintenance.COMPACT_GRACE_MS + maintenance.OPEN_PACK_MS) // 60_000 + 1
DAY_MS = 86_400_000
ENDPOINTS = [f"/api/v1/endpoint{i}" for i in range(20)]
METHODS = ["GET", "POST"]
STATUSES = ["200", "201", "404", "500", "503"]
LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
QUERIES = {
    "rate by endpoint": "sum by (endpoint) (rate(http_requests_total[5m]))",
    "p95 histogram": "histogram_quantile(0.95, sum by (le) "
    "(rate(http_request_duration_seconds_bucket[5m])))",
    "5xx ratio": 'sum(rate(http_requests_total{status=~"5.."}[5m])) '
    "/ sum(rate(http_requests_total[5m]))",
    "topk increase": "topk(5, sum by (endpoint) (increase(http_requests_total[1h])))",
}


def build(path: Path, end_ms: int) -> int:
    prepare_file(path)
    migrations.upgrade(path, MIGRATIONS, HEAD)
    conn = connect(path)
    rng = random.Random(42)
    start = end_ms - DAY_MS
    ts = list(range(start, end_ms + 1, STEP_MS))
    families: list[tuple[Labels, float, float]] = []  # labels, per-scrape rate, noise
    for ep in ENDPOINTS:
        for m in METHODS:
            for st in STATUSES:
                base = {"200": 20.0, "201": 3.0, "404": 1.0, "500": 0.3, "503": 0.1}[st]
                labels = {"__name__": "http_requests_total", "endpoint": ep, "method": m}
                families.append((Labels({**labels, "status": st}), base, base / 2))
        for j, le in enumerate(LE):
            labels = {"__name__": "http_request_duration_seconds_bucket", "endpoint": ep}
            families.append((Labels({**labels, "le": le}), 2.0 + 2 * j, 1.0))
        for suffix, rate in (("_sum", 3.0), ("_count", 26.0)):
            name = "http_request_duration_seconds" + suffix
            families.append((Labels({"__name__": name, "endpoint": ep}), rate, 1.0))
    for i in range(520):
        labels = {"__name__": f"node_metric_{i % 26}", "instance": f"host{i // 26}"}
        families.append((Labels(labels), 0.0, 5.0))
    total = 0
    for k in range(0, len(families), 50):
        batch: list[tuple[Labels, list[int], list[float]]] = []
        for series_labels, rate, noise in families[k : k + 50]:
            v = 0.0
            values = []
            for _ in ts:
                if rate:
                    v += max(0.0, rate + rng.uniform(-noise, noise))
                else:
                    v = 50 + rng.uniform(-noise, noise)
                values.append(v)
            batch.append((series_labels, ts, values))
        conn.execute("BEGIN IMMEDIATE")
        total += store.append_samples(conn, batch)
        conn.execute("COMMIT")
    while True:  # the compaction job packs one 30-minute block per call
        conn.execute("BEGIN IMMEDIATE")
        moved = store.compact_head(conn, end_ms + store.BLOCK_MS + 1)
        conn.execute("COMMIT")
        if not moved:
            break
    while True:  # the rollup job: minutes (up to a minute ago) and hours, watermark recorded
        conn.execute("BEGIN IMMEDIATE")
        caught_up = rollup.step(conn, end_ms + 60_000)
        conn.execute("COMMIT")
        if caught_up:
            break
    conn.execute("BEGIN IMMEDIATE")
    store.delete_raw_before(conn, end_ms - 3_600_000, 10**8)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return total


def add_live_head(path: Path, end_ms: int, minutes: int) -> int:
    """Append ``minutes`` more of every series at 15 s, left in the head as a live
    collector holds its newest samples between compaction runs; returns the new end."""
    conn = connect(path)
    rng = random.Random(7)
    rows = conn.execute("SELECT id, labels FROM series WHERE kind = ?", (store.KIND_SAMPLES,))
    found = [(sid, Labels(json.loads(text))) for sid, text in rows.fetchall()]
    last = store.raw_points(conn, [sid for sid, _ in found], end_ms - 60_000, end_ms)
    ts = list(range(end_ms + STEP_MS, end_ms + minutes * 60_000 + 1, STEP_MS))
    batch: list[tuple[Labels, list[int], list[float]]] = []
    for sid, labels in found:
        v = last[sid][1][-1] if sid in last else 0.0
        counter = (labels.get("__name__") or "").startswith("http_")  # the rest are gauges
        values = []
        for _ in ts:
            v = v + rng.uniform(0, 20) if counter else 50 + rng.uniform(-5, 5)
            values.append(v)
        batch.append((labels, ts, values))
    conn.execute("BEGIN IMMEDIATE")
    store.append_samples(conn, batch)
    conn.execute("COMMIT")
    conn.close()
    return ts[-1]


def timed(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm the page cache and regex caches
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def main() -> None:
    keep = os.environ.get("BENCH_PROMQL_DB")  # reuse a data set between runs (profiling)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(keep) if keep else Path(tmp) / "metrics.db"
        if path.exists():
            end_ms = int(path.with_suffix(".end").read_text())
        else:
            # Built by a child process: the queries then run in a process whose heap is like
            # a server's, not one left holding the builder's 5.76 M samples' garbage (that
            # made every query ~10 % slower).
            end_ms = int(time.time()) // 60 * 60_000
            t0 = time.perf_counter()
            built = subprocess.run(
                [sys.executable, __file__, "--build", str(path), str(end_ms)],
                check=True,
                capture_output=True,
                text=True,
            )
            n = int(built.stdout)
            path.with_suffix(".end").write_text(str(end_ms))
            print(f"data set: {n:,} samples written in {time.perf_counter() - t0:.0f} s")
        memory.settle_gc()  # as the server does once it is up (core.cli)
        print("load average before timing: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        conn = connect(path, readonly=True)
        reader = store.StoreReader(conn)
        opts = QueryOptions(max_timeout_s=300)
        end = end_ms // 1000
        ranges = {"1h@15s": (3600, 15, 9), "24h@60s": (86400, 60, 5), "24h@15s": (86400, 15, 5)}
        print(f"{'query':18} " + " ".join(f"{r:>10}" for r in ranges) + "   (median ms)")
        for name, q in QUERIES.items():
            cells = []
            for span, step, runs in ranges.values():
                p = Params(
                    [
                        ("query", q),
                        ("start", str(end - span)),
                        ("end", str(end)),
                        ("step", str(step)),
                    ]
                )
                cells.append(timed(lambda p=p: range_query(reader, p, opts), runs))  # type: ignore[misc]
            print(f"{name:18} " + " ".join(f"{c:10.1f}" for c in cells))
        sel = [Matcher("__name__", "=", "http_requests_total")]
        for label, span_ms, res in (
            ("1h", 3_600_000, 0),
            ("24h", DAY_MS, 0),
            ("24h at a 1 h resolution", DAY_MS, 3_600_000),
        ):
            ms = timed(
                lambda s=span_ms, r=res: reader.select(  # type: ignore[misc]
                    sel, end_ms - s - 300_000, end_ms, resolution_ms=r
                ),
                3,
            )
            print(f"store read of the 200 http_requests_total series, {label}: {ms:.1f} ms")
        hour = [("start", str(end - 3600)), ("end", str(end))]
        meta = {
            "labels": lambda: label_names(reader, Params(hour), end_ms),
            "label/__name__/values": lambda: label_values(reader, "__name__", Params(hour), end_ms),
            "series": lambda: series(
                reader, Params([*hour, ("match[]", "http_requests_total")]), end_ms
            ),
            "metadata": lambda: store.metadata(conn, limit=40000),
        }
        for name, fn in meta.items():
            print(f"{name:22} {timed(fn, 20):8.2f} ms")
        # A live collector's head at its fullest, between two compaction runs.
        live = Path(tmp) / "live.db"
        shutil.copyfile(path, live)
        live_end = add_live_head(live, end_ms, LIVE_HEAD_MINUTES) // 1000
        live_conn = connect(live, readonly=True)
        live_reader = store.StoreReader(live_conn)
        head_rows = live_conn.execute("SELECT count(*) FROM head").fetchone()[0]
        print(f"1 h @ 15 s with {LIVE_HEAD_MINUTES} minutes in the head ({head_rows:,} rows):")
        for name, q in QUERIES.items():
            p = Params(
                [
                    ("query", q),
                    ("start", str(live_end - 3600)),
                    ("end", str(live_end)),
                    ("step", "15"),
                ]
            )
            ms = timed(lambda p=p: range_query(live_reader, p, opts), 9)  # type: ignore[misc]
            print(f"  {name:18} {ms:8.1f} ms")
        live_conn.close()
        print("load average after timing: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        conn.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--build"]:
        print(build(Path(sys.argv[2]), int(sys.argv[3])))
    else:
        main()
