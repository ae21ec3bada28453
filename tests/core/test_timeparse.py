from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import BadRequest
from core.timeparse import (
    format_duration_ms,
    format_rfc3339,
    format_rfc3339_ns,
    parse_duration_ms,
    parse_time_ns,
    parse_time_seconds,
)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("5m", 300_000),
        ("1h30m", 5_400_000),
        ("250ms", 250),
        ("1d", 86_400_000),
        ("1w", 604_800_000),
        ("1y", 31_536_000_000),
        ("15", 15_000),
        ("0.5", 500),
        ("1m30s", 90_000),
    ],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "5x", "m5", "1m1h", "-5", "nan", "inf", "1.5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_duration_ms(text)


@given(st.integers(0, 10**13))
def test_duration_round_trip(ms: int) -> None:
    assert parse_duration_ms(format_duration_ms(ms)) == ms


def test_times() -> None:
    assert parse_time_seconds("1700000000.5") == 1700000000.5
    assert parse_time_seconds("2025-01-23T15:30:00Z") == 1737646200
    assert parse_time_seconds("2025-01-23T16:30:00+01:00") == 1737646200
    assert parse_time_ns("1737646200123456789") == 1737646200123456789
    assert parse_time_ns("1737646200") == 1737646200 * 10**9
    assert parse_time_ns("1737646200.5") == 1737646200500000000
    assert parse_time_ns("2025-01-23T15:30:00.123456789Z") == 1737646200123456789
    for bad in ("yesterday", "nan", "2025-13-01T00:00:00Z"):
        with pytest.raises(BadRequest):
            parse_time_seconds(bad)
        with pytest.raises(BadRequest):
            parse_time_ns(bad)


def test_formatting() -> None:
    assert format_rfc3339(1737646200) == "2025-01-23T15:30:00Z"
    assert format_rfc3339_ns(1737646200123456789) == "2025-01-23T15:30:00.123456789Z"
    assert format_rfc3339_ns(1737646200 * 10**9) == "2025-01-23T15:30:00Z"


@given(st.integers(0, 4 * 10**18))
def test_ns_round_trip(ns: int) -> None:
    assert parse_time_ns(format_rfc3339_ns(ns)) == ns
