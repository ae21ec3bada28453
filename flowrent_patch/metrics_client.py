"""SPEC §7.3.1 metrics client: buffer in memory, flush to ``POST /api/metrics`` in batches.

Why it is shaped like this:

* **Counters are increments.** The collector sums native counter values into a running
  total (DESIGN §5), so each process sends only what it counted since its last successful
  flush. Four uvicorn workers each flush their own increments and the totals add up; no
  process needs to know the others. Increments for the same (name, labels) are summed in
  the buffer, so a busy endpoint costs one point per flush, not one per request.
* **Histogram observations are kept one by one** with their own timestamp: the collector
  computes exact minute percentiles from them (SPEC §6.7), and an observation delivered
  late after an outage still lands in the minute it happened.
* **Gauges keep the last value** per (name, labels).
* **One lock, held for microseconds.** Recording is a dict update or a deque append under
  a ``threading.Lock``, safe from request threads (sync routes run in a thread pool) and
  from the event loop alike, and never blocks on I/O. The HTTP call happens in a
  background thread (``start``), every ``METRICS_FLUSH_INTERVAL`` seconds, one request
  per flush, and once more on shutdown (``stop``).
* **Bounded when the collector is down.** A failed flush (connection error, timeout, 5xx,
  429) puts its points back; counter increments merge, so totals survive an outage
  exactly. The buffer never holds more than ``max_points`` points: past that the oldest
  histogram observations are dropped and counted in ``dropped`` (SPEC §9.2 "drop
  metrics, continue processing"); gauges and then whole counter series go only when
  there are more distinct series than the bound. A 4xx other than 429 means the batch
  itself is wrong; it is dropped and counted rather than retried forever.
* **Fork-safe.** A process forked from one holding a client (gunicorn ``--preload``)
  starts with an empty buffer, its own flush thread and its own connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from flowrent_patch.settings import MonitoringSettings, secret
from flowrent_patch.throttle import ThrottledWarning

Labels = Mapping[str, Any] | None
LabelKey = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, LabelKey]

TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_POINTS = 10_000
INTERN_MAX = 4096

log = logging.getLogger(__name__)


def _label_key(labels: Labels) -> LabelKey:
    if not labels:
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class MetricsClient:
    """Buffered client for the collector's native API (SPEC §6.5.1)."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        flush_interval: float = 10.0,
        max_points: int = DEFAULT_MAX_POINTS,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/api/metrics"
        self.headers = {"X-API-Key": api_key} if api_key else {}
        self.flush_interval = flush_interval
        self.max_points = max(1, max_points)
        self.timeout = timeout
        self.dropped = 0
        self.sent = 0
        self.flushes = 0
        self.failed_flushes = 0
        self.last_error: str | None = None
        self._counters: dict[SeriesKey, float] = {}
        self._gauges: dict[SeriesKey, tuple[float, float]] = {}
        self._observations: deque[tuple[str, LabelKey, float, float]] = deque()
        self._interned: dict[LabelKey, LabelKey] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self._warn = ThrottledWarning(log)
        me = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reinit(me))

    # -- recording (hot path) ------------------------------------------------------------

    def _size(self) -> int:
        return len(self._counters) + len(self._gauges) + len(self._observations)

    def _room_for_one(self) -> bool:
        """Called under the lock when a new point needs a slot; evicts the oldest."""
        if self._size() < self.max_points:
            return True
        if self._observations:
            self._observations.popleft()
            self.dropped += 1
            return True
        self.dropped += 1
        return False

    def counter(self, name: str, labels: Labels = None, value: float = 1) -> None:
        key = (name, _label_key(labels))
        with self._lock:
            current = self._counters.get(key)
            if current is None:
                if not self._room_for_one():
                    return
                current = 0.0
            self._counters[key] = current + value

    def _shared(self, key: LabelKey) -> LabelKey:
        """One tuple per distinct label set, shared by all its observations.

        A buffered observation then costs ~120 bytes instead of ~350 (bench/
        client_overhead.py): a fresh label tuple per request was most of the memory an
        outage fills. The table is cleared past ``INTERN_MAX`` entries, so a label with
        unbounded values cannot grow it for ever.
        """
        shared = self._interned.get(key)
        if shared is None:
            if len(self._interned) >= INTERN_MAX:
                self._interned.clear()
            self._interned[key] = shared = key
        return shared

    def histogram(self, name: str, labels: Labels, value: float) -> None:
        item = (name, self._shared(_label_key(labels)), float(value), time.time())
        with self._lock:
            if self._room_for_one():
                self._observations.append(item)

    def gauge(self, name: str, labels: Labels, value: float) -> None:
        key = (name, _label_key(labels))
        with self._lock:
            if key in self._gauges or self._room_for_one():
                self._gauges[key] = (float(value), time.time())

    @property
    def buffered(self) -> int:
        with self._lock:
            return self._size()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            buffered = self._size()
        return {
            "buffered": buffered,
            "max_points": self.max_points,
            "dropped": self.dropped,
            "sent": self.sent,
            "flushes": self.flushes,
            "failed_flushes": self.failed_flushes,
            "last_error": self.last_error,
        }

    # -- flushing -----------------------------------------------------------------------

    def _take(
        self,
    ) -> tuple[
        dict[SeriesKey, float],
        dict[SeriesKey, tuple[float, float]],
        deque[tuple[str, LabelKey, float, float]],
    ]:
        with self._lock:
            taken = (self._counters, self._gauges, self._observations)
            self._counters, self._gauges, self._observations = {}, {}, deque()
        return taken

    def _put_back(
        self,
        counters: dict[SeriesKey, float],
        gauges: dict[SeriesKey, tuple[float, float]],
        observations: deque[tuple[str, LabelKey, float, float]],
    ) -> None:
        with self._lock:
            for key, value in self._counters.items():
                counters[key] = counters.get(key, 0.0) + value
            gauges.update(self._gauges)  # values set since the flush began are newer
            observations.extend(self._observations)
            self._counters, self._gauges, self._observations = counters, gauges, observations
            while self._size() > self.max_points and self._observations:
                self._observations.popleft()
                self.dropped += 1
            while self._size() > self.max_points and self._gauges:
                self._gauges.pop(next(iter(self._gauges)))
                self.dropped += 1
            while self._size() > self.max_points and self._counters:
                # more distinct counter series than the bound: the oldest series go
                self._counters.pop(next(iter(self._counters)))
                self.dropped += 1

    @staticmethod
    def _body(
        counters: dict[SeriesKey, float],
        gauges: dict[SeriesKey, tuple[float, float]],
        observations: deque[tuple[str, LabelKey, float, float]],
    ) -> list[dict[str, Any]]:
        points: list[dict[str, Any]] = [
            {"name": n, "type": "counter", "labels": dict(lk), "value": v}
            for (n, lk), v in counters.items()
        ]
        points += [
            {"name": n, "type": "gauge", "labels": dict(lk), "value": v, "timestamp": _rfc3339(t)}
            for (n, lk), (v, t) in gauges.items()
        ]
        points += [
            {
                "name": n,
                "type": "histogram",
                "labels": dict(lk),
                "value": v,
                "timestamp": _rfc3339(t),
            }
            for n, lk, v, t in observations
        ]
        return points

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout)
        return self._http

    def flush(self) -> bool:
        """Send everything buffered in one request. True when the collector took it."""
        with self._flush_lock:
            counters, gauges, observations = self._take()
            points = self._body(counters, gauges, observations)
            if not points:
                return True
            self.flushes += 1
            try:
                response = self._client().post(
                    self.endpoint, json={"metrics": points}, headers=self.headers
                )
            except Exception as exc:
                return self._failed(f"{exc!r}", counters, gauges, observations)
            if response.status_code >= 500 or response.status_code == 429:
                return self._failed(f"HTTP {response.status_code}", counters, gauges, observations)
            if response.status_code >= 300:
                self.failed_flushes += 1
                self.dropped += len(points)
                self.last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                self._warn(f"metrics collector refused a batch: {self.last_error}; dropped")
                return False
            self.sent += len(points)
            self.last_error = None
            self._note_rejected(response)
            return True

    def _failed(
        self,
        reason: str,
        counters: dict[SeriesKey, float],
        gauges: dict[SeriesKey, tuple[float, float]],
        observations: deque[tuple[str, LabelKey, float, float]],
    ) -> bool:
        self.failed_flushes += 1
        self.last_error = reason
        self._put_back(counters, gauges, observations)
        self._warn(
            f"metrics collector unreachable at {self.endpoint} ({reason}); "
            f"keeping at most {self.max_points} points, {self.dropped} dropped so far"
        )
        return False

    def _note_rejected(self, response: httpx.Response) -> None:
        try:
            rejected = response.json().get("rejected")
        except Exception:
            return
        if rejected:
            self._warn(f"metrics collector rejected {len(rejected)} points: {rejected[:3]}")

    # -- background thread --------------------------------------------------------------

    def _reinit_in_child(self) -> None:
        # A forked worker: the parent's thread, sockets and buffered points are not ours
        # (the parent sends those; sending them here too would double the counters).
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._counters, self._gauges, self._observations = {}, {}, deque()
        self._http = None
        was_running = self._thread is not None
        self._thread = None
        self._stop = threading.Event()
        if was_running:
            self.start()

    def start(self) -> None:
        """Flush every ``flush_interval`` seconds in a daemon thread until ``stop``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="metrics-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except Exception:  # never let the flusher die
                log.exception("metrics flush failed")

    def stop(self, timeout: float = TIMEOUT_SECONDS) -> None:
        """Stop the thread and flush what is left once (SPEC: flush on shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush()
        if self._http is not None:
            self._http.close()
            self._http = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MetricsClient]:
        """For a FastAPI lifespan: start on entry, flush and stop on exit (off the loop)."""
        import asyncio

        self.start()
        try:
            yield self
        finally:
            await asyncio.to_thread(self.stop)


def _reinit(ref: weakref.ReferenceType[MetricsClient]) -> None:
    client = ref()
    if client is not None:
        client._reinit_in_child()


_default: MetricsClient | None = None


def configure(settings: MonitoringSettings) -> MetricsClient | None:
    """Make the module-level client; None (and every call a no-op) without a URL."""
    global _default
    if not settings.metrics_collector_url:
        _default = None
        return None
    _default = MetricsClient(
        settings.metrics_collector_url,
        secret(settings.metrics_collector_api_key),
        flush_interval=settings.metrics_flush_interval,
        max_points=settings.metrics_buffer_size,
    )
    return _default


def set_default(client: MetricsClient | None) -> None:
    global _default
    _default = client


def default_client() -> MetricsClient | None:
    return _default


def counter(name: str, labels: Labels = None, value: float = 1) -> None:
    if _default is not None:
        _default.counter(name, labels, value)


def histogram(name: str, labels: Labels, value: float) -> None:
    if _default is not None:
        _default.histogram(name, labels, value)


def gauge(name: str, labels: Labels, value: float) -> None:
    if _default is not None:
        _default.gauge(name, labels, value)


def flush() -> bool:
    return _default.flush() if _default is not None else True
