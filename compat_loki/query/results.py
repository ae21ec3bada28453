"""What the LogQL engine answers, before any wire shaping. Pure.

The HTTP layer turns these into Loki's JSON (``streams`` / ``matrix`` / ``vector`` /
``scalar``); keeping them plain lets tests compare results without JSON in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.labels import Labels


@dataclass
class Stats:
    """Counters for ``data.stats.summary`` (Grafana shows them in the query inspector)."""

    lines_processed: int = 0
    bytes_processed: int = 0
    entries_returned: int = 0
    exec_seconds: float = 0.0


@dataclass(frozen=True)
class LogLine:
    ts_ns: int
    line: str
    metadata: dict[str, str] | None = None  # structured metadata (categorize-labels only)
    parsed: dict[str, str] | None = None  # parser-made labels (categorize-labels only)


@dataclass
class StreamsResult:
    streams: list[tuple[Labels, list[LogLine]]]
    stats: Stats = field(default_factory=Stats)
    kind: str = "streams"


@dataclass
class MatrixResult:
    series: list[tuple[Labels, list[tuple[int, float]]]]
    stats: Stats = field(default_factory=Stats)
    kind: str = "matrix"


@dataclass
class VectorResult:
    samples: list[tuple[Labels, int, float]]
    stats: Stats = field(default_factory=Stats)
    kind: str = "vector"


@dataclass
class ScalarResult:
    ts_ns: int
    value: float
    stats: Stats = field(default_factory=Stats)
    kind: str = "scalar"


Result = StreamsResult | MatrixResult | VectorResult | ScalarResult


def format_value(value: float) -> str:
    """A sample value as Prometheus/Loki print it (Go's ``FormatFloat(v, 'f', -1, 64)``)."""
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "+Inf"
    if value == float("-inf"):
        return "-Inf"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        from decimal import Decimal

        return format(Decimal(text), "f")
    return text
