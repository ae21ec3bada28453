"""Durations and timestamps as Prometheus, Loki and the SPEC write them. Pure.

* Durations: Prometheus form ``1h30m``, ``5m``, ``90s``, ``250ms``, ``2d``, ``1w``, ``1y``
  (combined units in descending order), and plain (float) seconds.
* Timestamps: RFC 3339 (``2025-01-23T15:30:00Z``, with fraction and offset), unix seconds
  with fraction (Prometheus), and unix nanoseconds (Loki; any integer of 16+ digits).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from core.errors import BadRequest

_UNIT_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 31_536_000_000,
}
_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_ORDER = ("y", "w", "d", "h", "m", "s", "ms")


def parse_duration_ms(text: str) -> int:
    """``"1h30m"`` → 5_400_000; also plain seconds ``"15"`` / ``"0.5"``."""
    s = text.strip()
    if not s:
        raise BadRequest("empty duration")
    try:
        seconds = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0 or seconds > 2**53 / 1000:
            raise BadRequest(f"invalid duration {text!r}")
        return round(seconds * 1000)
    match = _DURATION.match(s)
    if not match or not any(match.groups()):
        raise BadRequest(f"invalid duration {text!r}")
    total = 0
    for unit, amount in zip(_ORDER, match.groups(), strict=True):
        if amount is not None:
            total += int(amount) * _UNIT_MS[unit]
    return total


def format_duration_ms(ms: int) -> str:
    """Inverse of ``parse_duration_ms`` in Prometheus' canonical form (``1h30m``)."""
    if ms == 0:
        return "0s"
    out = []
    rest = ms
    for unit in _ORDER:
        size = _UNIT_MS[unit]
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)


def parse_rfc3339(text: str) -> datetime:
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python 3.11 parses up to microseconds; trim nanosecond fractions.
    s = re.sub(r"(\.\d{6})\d+", r"\1", s)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise BadRequest(f"invalid timestamp {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def parse_time_seconds(text: str) -> float:
    """A Prometheus API time parameter: unix seconds (float) or RFC 3339 → seconds."""
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        return parse_rfc3339(s).timestamp()
    if not math.isfinite(value):
        raise BadRequest(f"invalid timestamp {text!r}")
    return value


def parse_time_ns(text: str) -> int:
    """A Loki API time parameter: unix ns (integer), unix seconds (float) or RFC 3339."""
    s = text.strip()
    if re.fullmatch(r"-?\d+", s):
        value = int(s)
        # Loki: integers are nanoseconds; short ones are taken as seconds, as Loki's
        # own parser does for values that cannot be nanoseconds since 1970.
        return value if len(s.lstrip("-")) > 10 else value * 1_000_000_000
    try:
        seconds = float(s)
    except ValueError:
        dt = parse_rfc3339(s)
        frac = re.search(r"\.(\d+)", s)
        nanos = int((frac.group(1) + "000000000")[:9]) if frac else 0
        return int(dt.replace(microsecond=0).timestamp()) * 1_000_000_000 + nanos
    if not math.isfinite(seconds):
        raise BadRequest(f"invalid timestamp {text!r}")
    return round(seconds * 1e9)


def format_rfc3339(seconds: float) -> str:
    """Unix seconds → ``2025-01-23T15:30:00Z`` (SPEC's format, second precision)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_rfc3339_ns(ns: int) -> str:
    """Unix ns → RFC 3339 with nanoseconds, as Loki prints them."""
    base = datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = ns % 1_000_000_000
    return f"{base}.{frac:09d}Z" if frac else f"{base}Z"
