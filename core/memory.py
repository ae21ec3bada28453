"""Process memory settings: freed heap back to the OS after bursts, and the collector's pace.

glibc's malloc keeps what Python and SQLite free in its arenas (one per thread, up to 8 per
core), so a service that has just ingested a burst or answered a large query would keep its
peak RSS until it exits. Two arenas serve one writer thread plus the request threads without
contention, and ``malloc_trim(0)`` hands whole free pages back (0.2-0.7 ms on the dev box
with a ~50 MB heap). Measured on the log store after 1M lines: RSS 79 MB before, see
docs/benchmarks.md for after.

Elsewhere than glibc (musl, macOS) both calls are unavailable and this module does nothing.
"""

from __future__ import annotations

import ctypes
import gc
import threading
import time
from typing import Any

_M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
        return None
    return libc


_libc = _load_libc()


def limit_arenas(count: int = 2) -> bool:
    """Cap malloc arenas; call before threads start (arenas already made stay)."""
    return bool(_libc is not None and _libc.mallopt(_M_ARENA_MAX, count) == 1)


def trim() -> bool:
    """Release free heap pages to the OS now; True when some memory was released."""
    return bool(_libc is not None and _libc.malloc_trim(0) == 1)


class Trimmer:
    """``trim()`` soon after being asked, at most once per ``interval`` seconds, and once
    more after the last request of a burst (a trailing trim), in a daemon thread so the
    asker (the writer, a finished response) never waits for it."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.trims = 0

    def maybe_trim(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="flowmon-trim", daemon=True
                    )
                    self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            trim()
            self.trims += 1
            time.sleep(self.interval)


TRIMMER = Trimmer()  # one per process: ``flowmon all`` runs three services in it


# Young-generation collections every this many net allocations (CPython's default is 700).
GC_YOUNG_THRESHOLD = 20_000


def settle_gc() -> None:
    """Once the services are up: collect, then move every object alive (modules, routes,
    compiled schemas: ~0.5 M objects) out of the collector's sight with ``gc.freeze``, and
    collect the young generation less often.

    Why: a 24 h query or an ingest burst allocates hundreds of thousands of short-lived
    lists and tuples, and with the defaults the collector ran every 700 of them and
    walked the whole heap every ~100 runs: 15-20 % of a 24 h PromQL panel's time
    (measured, bench/promql.py). Our data structures hold no reference cycles on the hot
    paths, so the rare cyclic garbage just waits a little longer.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
