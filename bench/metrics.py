"""Metrics collector benchmark (issue 6): remote-write and native POST throughput, storage.

Workload shaped like a Grafana/Prometheus setup scraping FlowRent: ~1,000 series
(``http_requests_total{method,endpoint,status}``, ``http_request_duration_seconds``
buckets/sum/count, gauges), one sample each every 15 s for 24 h (5.76 M samples), sent as
pre-encoded remote-write 1.0 bodies (snappy protobuf, as Prometheus sends them) in four
phases of 6 h each: batches of 5,000 / 500 samples × 1 / 4 concurrent senders. Then native
POST batches of 100 points. The server is ``flowmon metrics`` in its own process, so its CPU
time and RSS are measured from /proc; encoding happens before the timed part.

Storage: bytes per sample on disk once the head is packed into chunks (the server's
compaction job, woken by the backfill), then the rollup job over the whole 24 h (timed; the
server runs with AGGREGATION_INTERVAL=3600 so it does not roll up during the backfill) and
retention with the default RETENTION_RAW=1h, and bytes per original sample after that.
All traffic goes to 127.0.0.1. Run: ``.venv/bin/python bench/metrics.py`` (5-10 minutes;
``BENCH_KEEP=1`` keeps the data folder).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import snappy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compat_prom.protocol.proto import remote_write_v1_pb2 as pb  # noqa: E402

KEY = "bench-key-0123456789abcdef0123456789abcdef"
STEP_MS = 15_000
HOURS = int(os.environ.get("BENCH_HOURS", "24"))
BUCKETS = [
    "0.005",
    "0.01",
    "0.025",
    "0.05",
    "0.1",
    "0.25",
    "0.5",
    "1.0",
    "2.5",
    "5.0",
    "10.0",
    "+Inf",
]
ENDPOINTS = [f"/api/v1/endpoint{i}" for i in range(10)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds used so far, RSS MB)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return cpu, rss


def make_series() -> list[list[tuple[str, str]]]:
    base = [("instance", "flowrent:8000"), ("job", "flowrent")]
    out: list[list[tuple[str, str]]] = []
    for ep in ENDPOINTS:
        for method in ("GET", "POST"):
            for status in ("200", "404", "500"):
                lab = [("endpoint", ep), ("method", method), ("status", status), *base]
                out.append([("__name__", "http_requests_total"), *lab])
                out.append([("__name__", "http_request_duration_seconds_sum"), *lab])
                out.append([("__name__", "http_request_duration_seconds_count"), *lab])
                for le in BUCKETS:
                    out.append(
                        [("__name__", "http_request_duration_seconds_bucket"), *lab, ("le", le)]
                    )
    for i in range(max(0, 1000 - len(out))):
        out.append([("__name__", "flowrent_gauge"), ("i", str(i)), *base])
    return [sorted(s) for s in out]


class Values:
    """Deterministic counter-like and gauge-like values per series and step."""

    def __init__(self, series: list[list[tuple[str, str]]]) -> None:
        rng = random.Random(1)
        self.rates = [rng.uniform(0, 3) for _ in series]
        self.gauge = [dict(s)["__name__"] == "flowrent_gauge" for s in series]
        self.rng = rng

    def at(self, i: int, step: int) -> float:
        if self.gauge[i]:
            return round(50 + 10 * self.rng.random(), 2)
        return float(int(self.rates[i] * step))


def encode_phase(
    series: list[list[tuple[str, str]]], values: Values, t0: int, steps: range, batch: int
) -> list[bytes]:
    bodies: list[bytes] = []
    req = pb.WriteRequest()
    n = 0
    for step in steps:
        ts = t0 + step * STEP_MS
        for i, labels in enumerate(series):
            s = req.timeseries.add()
            for k, v in labels:
                s.labels.add(name=k, value=v)
            s.samples.add(value=values.at(i, step), timestamp=ts)
            n += 1
            if n == batch:
                bodies.append(snappy.compress(req.SerializeToString()))
                req = pb.WriteRequest()
                n = 0
    if n:
        bodies.append(snappy.compress(req.SerializeToString()))
    return bodies


def send_all(url: str, bodies: list[bytes], senders: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    parts = [bodies[i::senders] for i in range(senders)]
    headers = {
        "Authorization": f"Bearer {KEY}",
        "Content-Encoding": "snappy",
        "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }

    def run(part: list[bytes]) -> None:
        mine = []
        with httpx.Client(timeout=60) as client:
            for body in part:
                t = time.perf_counter()
                r = client.post(url + "/api/v1/write", content=body, headers=headers)
                mine.append(time.perf_counter() - t)
                if r.status_code != 204:
                    raise SystemExit(f"remote-write answered {r.status_code}: {r.text[:200]}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(p,)) for p in parts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)] * 1000


def db_bytes(path: Path) -> int:
    return sum(
        Path(str(path) + suffix).stat().st_size
        for suffix in ("", "-wal")
        if Path(str(path) + suffix).exists()
    )


def table_bytes(path: Path) -> dict[str, int]:
    """Bytes per table + its indexes (SQLite's dbstat), after a checkpoint."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = conn.execute(
            "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d"
            " LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1"
        ).fetchall()
        return {name: int(size) for name, size in rows}
    finally:
        conn.close()


def wait_head_empty(path: Path, below: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    n = -1
    while time.monotonic() < deadline:
        conn = sqlite3.connect(path)
        try:
            n = conn.execute("SELECT count(*) FROM head").fetchone()[0]
        finally:
            conn.close()
        if n <= below:
            break
        time.sleep(1)
    return n


def offline_rollups_and_retention(path: Path) -> tuple[float, float]:
    """Run the service's own rollup and retention jobs on the database (server stopped)."""
    from compat_prom.service import create_app
    from compat_prom.settings import MetricsSettings
    from core.context import ServiceContext
    from core.settings import load_settings

    os.environ.pop("METRICS_RETENTION_RAW", None)
    settings = load_settings(
        MetricsSettings, {"DATA_DIR": str(path.parent), "API_KEY": KEY, "RETENTION_RAW": "1h"}
    )
    app = create_app(settings)
    ctx = ServiceContext.of_app(app)
    from compat_prom import maintenance

    async def run() -> tuple[float, float]:
        ctx.writer.start()
        try:
            t = time.perf_counter()
            await maintenance.compact(ctx)
            await maintenance.aggregate(ctx)
            rollup_s = time.perf_counter() - t
            t = time.perf_counter()
            await maintenance.retention(ctx)
            return rollup_s, time.perf_counter() - t
        finally:
            ctx.writer.stop()
            ctx.db.close()

    result = asyncio.run(run())
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")
    conn.close()
    return result


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="flowmon-bench-metrics-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Rollups are timed on their own afterwards: during the backfill every minute would be
    # "late" and rolled up twice, which is not what a live sender costs.
    env = {
        **os.environ,
        "DATA_DIR": str(data),
        "API_KEY": KEY,
        "METRICS_RETENTION_RAW": "48h",
        "METRICS_AGGREGATION_INTERVAL": "3600",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "metrics", f"--port={port}"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        series = make_series()
        values = Values(series)
        total_steps = HOURS * 3600_000 // STEP_MS
        now = int(time.time() * 1000) // STEP_MS * STEP_MS
        t0 = now - total_steps * STEP_MS
        phase_steps = total_steps // 4
        print(f"series: {len(series)}, samples: {len(series) * total_steps:,} (24 h at 15 s)")
        print("phase                  samples/s   CPU-s/M   p50 ms   p95 ms   p99 ms   RSS MB")
        total_samples = 0
        for k, (batch, senders) in enumerate(((5000, 1), (5000, 4), (500, 1), (500, 4))):
            steps = range(k * phase_steps, (k + 1) * phase_steps)
            bodies = encode_phase(series, values, t0, steps, batch)
            samples = len(series) * len(steps)
            cpu0, _ = proc_stats(proc.pid)
            t = time.perf_counter()
            lat = send_all(url, bodies, senders)
            wall = time.perf_counter() - t
            cpu1, rss = proc_stats(proc.pid)
            total_samples += samples
            print(
                f"rw batch {batch:>5} x{senders}   {samples / wall:>10,.0f} "
                f"{(cpu1 - cpu0) / samples * 1e6:>9.2f} {pct(lat, 0.5):>8.1f} "
                f"{pct(lat, 0.95):>8.1f} {pct(lat, 0.99):>8.1f} {rss:>8.1f}"
            )
        # native POST: 100-point batches (counters, histograms, gauges), 1 sender
        rng = random.Random(2)
        lat = []
        cpu0, _ = proc_stats(proc.pid)
        t = time.perf_counter()
        with httpx.Client(timeout=30) as client:
            for _ in range(300):
                items = []
                for _ in range(100):
                    ep = rng.choice(ENDPOINTS)
                    labels = {"method": "GET", "endpoint": ep, "status": rng.choice(["200", "500"])}
                    kind = rng.choice(["counter", "histogram", "gauge"])
                    name = {
                        "counter": "native_requests_total",
                        "histogram": "native_duration_seconds",
                        "gauge": "native_in_progress",
                    }[kind]
                    items.append(
                        {"name": name, "type": kind, "labels": labels, "value": rng.random()}
                    )
                t1 = time.perf_counter()
                r = client.post(
                    url + "/api/metrics", json={"metrics": items}, headers={"X-API-Key": KEY}
                )
                lat.append(time.perf_counter() - t1)
                assert r.status_code == 202, r.text
        wall = time.perf_counter() - t
        cpu1, rss = proc_stats(proc.pid)
        print(
            f"native POST x100      {30000 / wall:>10,.0f} {(cpu1 - cpu0) / 30000 * 1e6:>9.2f} "
            f"{pct(lat, 0.5):>8.1f} {pct(lat, 0.95):>8.1f} {pct(lat, 0.99):>8.1f} {rss:>8.1f}"
        )
        db = data / "metrics.db"
        left = wait_head_empty(db, below=len(series) * 200, timeout=240)
        _, rss_end = proc_stats(proc.pid)
        print(f"after compaction: head rows {left:,}, server RSS {rss_end:.1f} MB")
    finally:
        proc.terminate()
        proc.wait(30)
    db = data / "metrics.db"
    sizes = table_bytes(db)
    raw = sizes.get("chunks", 0) + sizes.get("head", 0)
    chunks, head = sizes.get("chunks", 0), sizes.get("head", 0)
    print(
        f"raw samples on disk: chunks {chunks:,} B + head {head:,} B"
        f" = {raw / total_samples:.2f} B/sample;"
        f" whole file {db_bytes(db) / total_samples:.2f} B/sample"
    )
    rollup_s, retention_s = offline_rollups_and_retention(db)
    sizes = table_bytes(db)
    print(f"rollup job (compaction + {HOURS} h of minute and hour rollups): {rollup_s:.1f} s")
    print(f"retention (RETENTION_RAW=1h): {retention_s:.1f} s")
    print(
        f"after rollups + retention: file {db_bytes(db):,} B = {db_bytes(db) / total_samples:.2f}"
        f" B per original sample (rollups {sizes.get('rollups', 0):,} B)"
    )
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
