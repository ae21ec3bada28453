"""Freed heap memory goes back to the OS: malloc tuning and the writer's idle hook."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from core import memory
from core.db import prepare_file
from core.writer import Writer


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_trim_gives_freed_heap_back() -> None:
    """glibc keeps freed chunks; after malloc_trim the process is smaller again."""
    assert memory.limit_arenas(2)
    blocks = [bytearray(100_000) for _ in range(400)]  # ~40 MB in malloc, not mmap'd alone
    for b in blocks:
        b[::4096] = b"x" * len(b[::4096])  # touch every page
    grown = rss_kb()
    del blocks[:-1]  # the last one pins the top of the heap: only trim can release the rest
    memory.trim()
    assert rss_kb() < grown - 20_000


def wait_for_trims(trimmer: memory.Trimmer, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while trimmer.trims < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert trimmer.trims >= n


def test_trimmer_runs_at_most_once_per_interval_and_once_after_a_burst() -> None:
    trimmer = memory.Trimmer(interval=2.0)
    trimmer.maybe_trim()
    wait_for_trims(trimmer, 1)
    burst = time.monotonic()
    for _ in range(50):
        trimmer.maybe_trim()
    if time.monotonic() - burst < 1.0:  # the burst fell inside the interval (it takes µs)
        assert trimmer.trims == 1
    wait_for_trims(trimmer, 2)  # the trailing trim after the burst
    time.sleep(2.5)
    assert trimmer.trims == 2  # nothing asked since: no more trims


def test_writer_calls_idle_listeners_when_its_queue_runs_empty(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    prepare_file(db)
    writer = Writer(db)
    idle = threading.Event()
    writer.on_idle(idle.set)
    writer.start()
    try:
        writer.run_sync(lambda conn: conn.execute("CREATE TABLE t (x)"), timeout=10)
        assert idle.wait(5)
    finally:
        writer.stop()


SETTLE_PROBE = """
import gc, sys
from core import memory
import compat_loki.query.stages  # uses re2 through core.lazyre2
assert "re2" not in sys.modules, "re2 imported before the first regex"
memory.settle_gc()
assert gc.get_threshold()[0] == memory.GC_YOUNG_THRESHOLD
assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()
from core.labels import compile_anchored
assert compile_anchored("a.c").match("abc")
assert "re2" in sys.modules
print("ok")
"""


def test_settle_gc_freezes_the_startup_heap_and_re2_loads_on_first_use() -> None:
    """In a child process: freezing the collector is process-wide."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", SETTLE_PROBE], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_writer_frees_its_page_cache_once_a_burst_is_over(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    prepare_file(path)
    writer = Writer(path, release_after_s=0.2)
    idle: list[int] = []
    writer.on_idle(lambda: idle.append(writer.releases))
    writer.start()
    try:
        writer.run_sync(lambda c: c.execute("CREATE TABLE t (x BLOB)"))
        for _ in range(20):
            writer.run_sync(lambda c: c.execute("INSERT INTO t VALUES (zeroblob(50000))"))
        assert writer.releases == 0  # not while jobs keep coming
        deadline = time.monotonic() + 5
        while writer.releases == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.releases == 1
        time.sleep(0.5)
        assert writer.releases == 1  # once per burst, not every 0.2 s while idle
        assert idle[-1] == 1  # and the idle listeners (the trimmer) ran after it
    finally:
        writer.stop()
