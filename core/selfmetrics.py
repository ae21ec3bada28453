"""The ``flowmon_*`` metrics each service exports about itself (DESIGN §2).

Five families of a fixed shape, written in the Prometheus text format (0.0.4) or OpenMetrics.
Why not prometheus-client here: importing it costs each service process ~2.7 MB RSS
(measured on the dev box) for what is a few counters; FlowRent's side (``flowrent_patch``)
still uses it. One instance per app, so three services in one process (and every test) keep
their own figures. ``_created`` samples are not written (Prometheus ignores them unless asked).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterator

LabelValues = tuple[str, ...]


def format_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: LabelValues) -> str:
    if not names:
        return ""
    pairs = sorted(zip(names, values, strict=True))
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


class _Child:
    __slots__ = ("_family", "_key")

    def __init__(self, family: Counter, key: LabelValues) -> None:
        self._family, self._key = family, key

    def inc(self, amount: float = 1.0) -> None:
        self._family.inc(self._key, amount)


class Counter:
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...]) -> None:
        self.name, self.help, self.label_names = name, help_text, labels
        self._values: dict[LabelValues, float] = {}
        self._lock = threading.Lock()

    def labels(self, *values: str) -> _Child:
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name}: expected labels {self.label_names}")
        return _Child(self, values)

    def inc(self, key: LabelValues, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def samples(self) -> Iterator[tuple[str, str, float]]:
        with self._lock:
            items = sorted(self._values.items())
        for key, value in items:
            yield self.name + "_total", _labels(self.label_names, key), value


class Histogram:
    """One label set (the service), fixed buckets."""

    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, labels: dict[str, str], buckets: tuple[float, ...]
    ) -> None:
        self.name, self.help = name, help_text
        self.label_names, self.label_values = tuple(labels), tuple(labels.values())
        self.bounds = tuple(sorted(buckets))
        self._counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf only
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.bounds, value)
        with self._lock:
            self._counts[i] += 1
            self._sum += value

    def samples(self) -> Iterator[tuple[str, str, float]]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        names, values = self.label_names, self.label_values
        running = 0
        for bound, n in zip((*self.bounds, math.inf), counts, strict=True):
            running += n
            yield (
                self.name + "_bucket",
                _labels((*names, "le"), (*values, format_value(bound))),
                float(running),
            )
        yield self.name + "_count", _labels(names, values), float(running)
        yield self.name + "_sum", _labels(names, values), total


class Gauge:
    """A value read when scraped (queue depth, file size)."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: dict[str, str]) -> None:
        self.name, self.help = name, help_text
        self.label_names, self.label_values = tuple(labels), tuple(labels.values())
        self.read: Callable[[], float] | None = None

    def samples(self) -> Iterator[tuple[str, str, float]]:
        if self.read is not None:
            yield self.name, _labels(self.label_names, self.label_values), float(self.read())


Family = Counter | Histogram | Gauge


class SelfMetrics:
    def __init__(self, service: str) -> None:
        self.service = service
        own = {"service": service}
        self.requests = Counter(
            "flowmon_http_requests",
            "HTTP requests answered, by method and status code.",
            ("service", "method", "status"),
        )
        self.request_seconds = Histogram(
            "flowmon_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            own,
            (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.ingested = Counter(
            "flowmon_ingested_items",
            "Items stored, by kind (event, log line, sample, ...).",
            ("service", "kind"),
        )
        self.dropped = Counter(
            "flowmon_dropped_items",
            "Items received but not stored, by kind and reason.",
            ("service", "kind", "reason"),
        )
        self.received = Counter(
            "flowmon_received_items",
            "Items received that have no storage yet (accepted and counted).",
            ("service", "kind"),
        )
        self._queue_depth = Gauge(
            "flowmon_writer_queue_depth", "Write jobs waiting for the single SQLite writer.", own
        )
        self._db_size = Gauge(
            "flowmon_db_size_bytes", "Size of the service's SQLite files (main + WAL + SHM).", own
        )

    def families(self) -> list[Family]:
        return [
            self.requests,
            self.request_seconds,
            self.ingested,
            self.dropped,
            self.received,
            self._queue_depth,
            self._db_size,
        ]

    def count_ingested(self, kind: str, n: int = 1) -> None:
        if n:
            self.ingested.inc((self.service, kind), n)

    def count_dropped(self, kind: str, reason: str, n: int = 1) -> None:
        if n:
            self.dropped.inc((self.service, kind, reason), n)

    def count_received(self, kind: str, n: int = 1) -> None:
        if n:
            self.received.inc((self.service, kind), n)

    def watch(self, queue_depth: Callable[[], float], db_size: Callable[[], float]) -> None:
        self._queue_depth.read = queue_depth
        self._db_size.read = db_size

    def exposition(self, *, openmetrics: bool = False) -> bytes:
        """The text format (0.0.4), or OpenMetrics 1.0 ending in ``# EOF``."""
        out: list[str] = []
        for family in self.families():
            # OpenMetrics names a counter family without its _total suffix.
            name = (
                family.name if openmetrics or family.kind != "counter" else family.name + "_total"
            )
            out.append(f"# HELP {name} {family.help}")
            out.append(f"# TYPE {name} {family.kind}")
            out.extend(
                f"{sample}{labels} {format_value(value)}"
                for sample, labels, value in family.samples()
            )
        if openmetrics:
            out.append("# EOF")
        return ("\n".join(out) + "\n").encode()
