"""Loki's query-parameter rules (``pkg/loghttp/params.go``, v3.4). Pure.

* times: integers of ≤ 10 digits are seconds, longer integers nanoseconds, a ``.`` makes
  float seconds, anything else RFC 3339 (``core.timeparse.parse_time_ns``);
* ``end`` defaults to now, ``start`` to ``end - 1h`` (``since`` overrides);
* ``limit`` defaults to 100 and may not exceed ``max_entries_limit_per_query`` (5000);
* ``step`` is float seconds or a duration (Grafana sends ``60000ms``), default
  ``max(floor((end - start) / 250 s), 1 s)``;
* ``direction`` is ``forward`` or ``backward`` (default).
"""

from __future__ import annotations

from compat_loki.query.lexer import duration_ns
from compat_loki.query.reader import Direction
from core.errors import BadRequest
from core.timeparse import parse_time_ns

HOUR_NS = 3_600_000_000_000
SECOND_NS = 1_000_000_000
DEFAULT_LIMIT = 100
MAX_LIMIT = 5000


# Times beyond ±2^62 ns (year 2116) cannot take a range or step added without leaving
# SQLite's 64-bit integers; Loki's own parser cannot represent them either.
MAX_TIME_NS = 2**62


def time_ns(text: str | None, default: int, name: str) -> int:
    if text is None or text.strip() == "":
        return default
    try:
        value = parse_time_ns(text)
        if abs(value) > MAX_TIME_NS:
            raise BadRequest(name)
        return value
    except BadRequest:
        raise BadRequest(
            f'invalid {name} parameter: cannot parse "{text[:64]}" to a valid timestamp'
        ) from None
    except (OverflowError, ValueError):
        raise BadRequest(
            f'invalid {name} parameter: cannot parse "{text[:64]}" to a valid timestamp'
        ) from None


def seconds_or_duration_ns(text: str, name: str) -> int:
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        ns = duration_ns(s)
        if ns is None:
            raise BadRequest(
                f'invalid {name} parameter: cannot parse "{s[:64]}" to a valid duration'
            ) from None
        return ns
    if value != value or value in (float("inf"), float("-inf")) or abs(value) > 1e12:
        raise BadRequest(f'invalid {name} parameter: cannot parse "{s[:64]}" to a valid duration')
    return round(value * SECOND_NS)


def time_range(
    start: str | None, end: str | None, since: str | None, now_ns: int
) -> tuple[int, int]:
    end_ns = time_ns(end, now_ns, "end")
    default_start = end_ns - (seconds_or_duration_ns(since, "since") if since else HOUR_NS)
    start_ns = time_ns(start, default_start, "start")
    if end_ns < start_ns:
        raise BadRequest("end timestamp must not be before or equal to start time")
    return start_ns, end_ns


def limit(text: str | None, max_limit: int = MAX_LIMIT) -> int:
    if text is None or text.strip() == "":
        return DEFAULT_LIMIT
    try:
        value = int(text.strip())
    except ValueError:
        raise BadRequest(
            f'invalid limit parameter: cannot parse "{text[:64]}" as an integer'
        ) from None
    if value <= 0:
        raise BadRequest("limit must be a positive value")
    if value > max_limit:
        raise BadRequest(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query "
            f"({value} > {max_limit})"
        )
    return value


def direction(text: str | None) -> Direction:
    value = (text or "backward").strip().lower()
    if value in ("backward", "scan"):
        return "backward"
    if value == "forward":
        return "forward"
    raise BadRequest(f"invalid direction '{text[:32] if text else ''}'")


def step(text: str | None, start_ns: int, end_ns: int) -> int:
    if text is None or text.strip() == "":
        return max((end_ns - start_ns) // 250 // SECOND_NS * SECOND_NS, SECOND_NS)
    value = seconds_or_duration_ns(text, "step")
    if value <= 0:
        raise BadRequest(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    return value
