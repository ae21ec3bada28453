"""The ``flowmon_*`` metrics each service exports about itself (DESIGN §2).

One registry per app, never prometheus-client's global one, so three services in one
process (and every test) keep their own figures.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest


class SelfMetrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"service": service}
        self.requests = Counter(
            "flowmon_http_requests",
            "HTTP requests answered, by method and status code.",
            ["service", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "flowmon_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["service"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        ).labels(**labels)
        self.ingested = Counter(
            "flowmon_ingested_items",
            "Items stored, by kind (event, log line, sample, ...).",
            ["service", "kind"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "flowmon_dropped_items",
            "Items received but not stored, by kind and reason.",
            ["service", "kind", "reason"],
            registry=self.registry,
        )
        self.received = Counter(
            "flowmon_received_items",
            "Items received that have no storage yet (accepted and counted).",
            ["service", "kind"],
            registry=self.registry,
        )
        self._queue_depth = Gauge(
            "flowmon_writer_queue_depth",
            "Write jobs waiting for the single SQLite writer.",
            ["service"],
            registry=self.registry,
        ).labels(**labels)
        self._db_size = Gauge(
            "flowmon_db_size_bytes",
            "Size of the service's SQLite files (main + WAL + SHM).",
            ["service"],
            registry=self.registry,
        ).labels(**labels)

    def count_ingested(self, kind: str, n: int = 1) -> None:
        if n:
            self.ingested.labels(self.service, kind).inc(n)

    def count_dropped(self, kind: str, reason: str, n: int = 1) -> None:
        if n:
            self.dropped.labels(self.service, kind, reason).inc(n)

    def count_received(self, kind: str, n: int = 1) -> None:
        if n:
            self.received.labels(self.service, kind).inc(n)

    def watch(self, queue_depth: Callable[[], float], db_size: Callable[[], float]) -> None:
        self._queue_depth.set_function(queue_depth)
        self._db_size.set_function(db_size)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
