"""Log store benchmark (issue 4): 1,000,000 Docker-shaped lines through the tailer and
through Loki push, then the SPEC §5.5 queries over them.

Runs the real service as a subprocess (``flowmon logs``) on 127.0.0.1, so the RSS and the
database size are the service's own. Prints lines/s per ingest path, ingestion lag,
bytes per line on disk, RSS, and the median / p95 latency of each query.

    .venv/bin/python bench/logs.py [--lines 1000000] [--keep DIR]

Bounded: every wait has a deadline; the whole run takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import snappy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compat_loki.docker import rebuild_raw  # noqa: E402
from compat_loki.protocol.proto import push_pb2  # noqa: E402

KEY = "bench-key-0123456789abcdef0123456789abcdef"
CONTAINERS = ("rentl_prod", "rentl_dev", "rentl_worker")
DAY_NS = 86_400 * 1_000_000_000
PATHS = ("/api/bookings", "/api/vehicles", "/health", "/api/users/me", "/api/payments/confirm")
DEADLINE = 600.0


def make_lines(n: int, seed: int = 7) -> list[tuple[int, str, str, int]]:
    """(container index, stream, line, ts_ns): uvicorn access, JSON app, ERROR timeouts."""
    rnd = random.Random(seed)
    start = time.time_ns() - DAY_NS
    out = []
    for i in range(n):
        ts = start + i * (DAY_NS // n)
        c = i % 3
        r = rnd.random()
        if r < 0.60:
            line = (
                f"INFO:     172.18.0.{rnd.randrange(2, 250)}:{rnd.randrange(30000, 60000)} - "
                f'"GET {rnd.choice(PATHS)}/{rnd.randrange(1, 5000)} HTTP/1.1" 200 OK'
            )
            stream = "stdout"
        elif r < 0.95:
            line = (
                f'{{"timestamp": "{i}", "level": "INFO", "logger": "app.bookings", '
                f'"message": "booking {rnd.randrange(1, 10**6)} confirmed for user '
                f'{rnd.randrange(1, 5000)}", "request_id": "{rnd.getrandbits(48):012x}"}}'
            )
            stream = "stdout"
        else:
            line = (
                f"ERROR:app.email:Failed to send email to user {rnd.randrange(1, 5000)}: "
                f"connection timeout after {rnd.choice((10, 30, 60))}s"
            )
            stream = "stderr"
        out.append((c, stream, line, ts))
    return out


def write_docker_tree(root: Path, lines: list[tuple[int, str, str, int]]) -> None:
    files = []
    for c, name in enumerate(CONTAINERS):
        cid = f"{c + 1:x}" * 64
        folder = root / cid
        folder.mkdir(parents=True)
        (folder / "config.v2.json").write_text(f'{{"Name": "/{name}"}}')
        files.append(open(folder / f"{cid}-json.log", "w", encoding="utf-8"))  # noqa: SIM115
    for c, stream, line, ts in lines:
        files[c].write(rebuild_raw(line, stream, ts) + "\n")
    for fh in files:
        fh.close()


def load() -> str:
    """The 1-minute load average: these figures assume an otherwise idle 2-core machine."""
    return Path("/proc/loadavg").read_text().split()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(self, data: Path, sources: Path, max_entries: int) -> None:
        self.port = free_port()
        self.data = data
        env = {
            **os.environ,
            "DATA_DIR": str(data),
            "API_KEY": KEY,
            "LOGS_PORT": str(self.port),
            "LOG_SOURCES": str(sources),
            "MAX_ENTRIES": str(max_entries),
            "TAIL_BUFFER": str(max_entries),
            "POLL_INTERVAL": "5",
            "LOG_LEVEL": "warning",
        }
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/flowmon"), "logs"], env=env, cwd=str(ROOT)
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.url, timeout=60, headers={"X-API-Key": KEY})
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.http.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the log store did not start")
            time.sleep(0.1)

    def indexed(self) -> int:
        return int(self.http.get("/health").json()["logs_indexed"])

    def rss_mb(self) -> tuple[float, float]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return (
            int(fields["VmRSS"].split()[0]) / 1024,
            int(fields["VmHWM"].split()[0]) / 1024,
        )

    def cpu_seconds(self) -> float:
        """User + system CPU of the server so far: a figure the other processes on a busy
        machine do not inflate the way they inflate wall time."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def db_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.data.glob("logs.db*"))


def wait_for(server: Server, n: int, started: float) -> float:
    while True:
        got = server.indexed()
        if got >= n:
            return time.perf_counter() - started
        if time.perf_counter() - started > DEADLINE:
            raise RuntimeError(f"only {got} of {n} lines after {DEADLINE}s")
        time.sleep(0.1)


def lag(server: Server, sources: Path, rounds: int = 7) -> list[float]:
    """Seconds from a line written to a Docker file to the line being searchable."""
    cid = "1" * 64
    path = sources / cid / f"{cid}-json.log"
    out = []
    for i in range(rounds):
        marker = f"lagmarker{i}x{random.getrandbits(32):08x}"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(rebuild_raw(f"INFO: {marker}", "stdout", time.time_ns()) + "\n")
        written = time.perf_counter()
        while not server.http.get("/api/logs", params={"search": marker}).json()["total"]:
            if time.perf_counter() - written > 30:
                raise RuntimeError("a written line did not arrive in 30 s")
            time.sleep(0.01)
        out.append(time.perf_counter() - written)
        time.sleep(random.uniform(0.1, 0.6))
    return out


def push_all(
    server: Server, lines: list[tuple[int, str, str, int]], batch: int, senders: int
) -> float:
    bodies: list[bytes] = []
    for start in range(0, len(lines), batch):
        req = push_pb2.PushRequest()
        streams: dict[tuple[int, str], Any] = {}
        for c, stream, line, ts in lines[start : start + batch]:
            s = streams.get((c, stream))
            if s is None:
                s = streams[(c, stream)] = req.streams.add(
                    labels=f'{{container="{CONTAINERS[c]}", stream="{stream}"}}'
                )
            e = s.entries.add(line=line)
            e.timestamp.seconds, e.timestamp.nanos = divmod(ts, 1_000_000_000)
        bodies.append(snappy.compress(req.SerializeToString()))
    errors: list[str] = []

    def send(part: list[bytes]) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            for body in part:
                for _ in range(50):
                    res = http.post(
                        "/loki/api/v1/push",
                        content=body,
                        headers={"X-API-Key": KEY, "Content-Type": "application/x-protobuf"},
                    )
                    if res.status_code != 429:
                        break
                    time.sleep(0.05)
                if res.status_code != 204:
                    errors.append(f"{res.status_code} {res.text[:200]}")
                    return

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(bodies[i::senders],)) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"push failed: {errors[0]}")
    return elapsed


def tailer_in_process(work: Path, n: int) -> None:
    """The tailer and the writer alone in this process: parse and store overlap or not."""
    from compat_loki import store
    from compat_loki.tail import Tailer
    from core import migrations
    from core.db import prepare_file
    from core.writer import Writer

    sources = work / "inproc-containers"
    write_docker_tree(sources, make_lines(n, seed=11))
    db = work / "inproc" / "logs.db"
    prepare_file(db)
    migrations.upgrade(db, ROOT / "compat_loki" / "migrations", "0002")
    writer = Writer(db)
    writer.start()
    tailer = Tailer(
        sources,
        None,
        n,
        {},
        lambda recs, cur: writer.submit(lambda c: store.store_tail_batch(c, recs, cur, 2 * n)),
    )
    cpu, started = time.process_time(), time.perf_counter()
    while tailer.stats.lines < n and time.perf_counter() - started < DEADLINE:
        tailer.tick()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    writer.stop()
    print(
        f"  {tailer.stats.lines:,} lines in {wall:.1f} s = {tailer.stats.lines / wall:,.0f} "
        f"lines/s; CPU {cpu:.1f} s (parallelism {cpu / wall:.2f}); load {load()}"
    )


def latency(
    server: Server, params: dict[str, Any] | None, path: str, rounds: int = 9
) -> tuple[float, float, Any]:
    times, body = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        res = server.http.get(path, params=params)
        times.append((time.perf_counter() - t) * 1000)
        res.raise_for_status()
        body = res.json()
    times.sort()
    return statistics.median(times), times[-1], body


def queries(server: Server) -> None:
    now = time.time_ns()
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((now - 3600 * 10**9) / 1e9))
    cases = [
        ("search=timeout&limit=100", "/api/logs", {"search": "timeout", "limit": 100}),
        ("level=ERROR&limit=100", "/api/logs", {"level": "ERROR", "limit": 100}),
        (
            "container=rentl_prod, last 1h",
            "/api/logs",
            {"container": "rentl_prod", "since": since, "limit": 100},
        ),
        ("search=booking 4242 (rare)", "/api/logs", {"search": "booking 4242", "limit": 100}),
        ("no filter, newest 100", "/api/logs", {"limit": 100}),
        ("/api/stats", "/api/stats", None),
    ]
    for name, path, params in cases:
        p50, worst, body = latency(server, params, path)
        total = body.get("total", body.get("total_logs")) if isinstance(body, dict) else None
        print(f"  {name:32s} median {p50:7.1f} ms   max of 9 {worst:7.1f} ms   total={total}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the data in DIR")
    parser.add_argument("--skip-push", action="store_true")
    args = parser.parse_args()
    n = args.lines
    work = Path(tempfile.mkdtemp(prefix="flowmon-bench-logs-", dir=args.keep))
    try:
        t = time.perf_counter()
        lines = make_lines(n)
        sources = work / "containers"
        write_docker_tree(sources, lines)
        size = sum(p.stat().st_size for p in sources.rglob("*-json.log"))
        print(
            f"generated {n:,} lines ({size / 1e6:.0f} MB of json-file logs) "
            f"in {time.perf_counter() - t:.1f} s"
        )

        print("== tailer path (Docker json-file → SQLite)")
        server = Server(work / "data-tail", sources, max_entries=n + 1000)
        started, cpu = time.perf_counter(), server.cpu_seconds()
        elapsed = wait_for(server, n, started)
        cpu = server.cpu_seconds() - cpu
        print(
            f"  ingested {n:,} lines in {elapsed:.1f} s = {n / elapsed:,.0f} lines/s "
            "(incl. start-up)"
        )
        print(f"  server CPU {cpu:.1f} s = {n / cpu:,.0f} lines per CPU-second; load {load()}")
        lags = lag(server, sources)
        print(
            f"  ingestion lag: median {statistics.median(lags) * 1000:.0f} ms, "
            f"max {max(lags) * 1000:.0f} ms ({len(lags)} lines)"
        )
        queries(server)
        rss, hwm = server.rss_mb()
        print(f"  RSS {rss:.0f} MB (peak {hwm:.0f} MB)")
        count = server.indexed()
        server.stop()
        print(
            f"  on disk: {server.db_bytes() / count:.0f} bytes/line "
            f"({server.db_bytes() / 1e6:.0f} MB, {count:,} lines, all indexes)"
        )

        small = min(n, 300_000)
        print(f"== tailer + writer in this process (no HTTP, no subprocess), {small:,} lines")
        tailer_in_process(work, small)

        if not args.skip_push:
            print("== push path (Loki protobuf+snappy, 2,000 lines per request, 2 senders)")
            empty = work / "empty"
            empty.mkdir()
            server = Server(work / "data-push", empty, max_entries=n + 1000)
            cpu = server.cpu_seconds()
            elapsed = push_all(server, lines, 2000, 2)
            cpu = server.cpu_seconds() - cpu
            print(
                f"  pushed {n:,} lines in {elapsed:.1f} s = {n / elapsed:,.0f} lines/s "
                "(answered 204 = committed)"
            )
            print(f"  server CPU {cpu:.1f} s = {n / cpu:,.0f} lines per CPU-second; load {load()}")
            assert server.indexed() == n
            queries(server)
            rss, hwm = server.rss_mb()
            print(f"  RSS {rss:.0f} MB (peak {hwm:.0f} MB)")
            server.stop()
            print(f"  on disk: {server.db_bytes() / n:.0f} bytes/line")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
