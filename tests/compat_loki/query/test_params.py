"""Loki's query parameter rules."""

from __future__ import annotations

import pytest

from compat_loki.query import params
from core.errors import BadRequest

NOW = 1_795_651_200 * 10**9
S = 10**9


def test_times_as_loki_parses_them() -> None:
    assert params.time_ns("4000000000", 0, "time") == 4_000_000_000 * S  # <= 10 digits: seconds
    assert params.time_ns("1795651200000000000", 0, "time") == NOW  # longer: ns
    assert params.time_ns("1795651200.5", 0, "time") == NOW + S // 2  # float seconds
    assert params.time_ns("2026-11-26T00:00:00Z", 0, "time") == NOW
    assert params.time_ns(None, 42, "time") == 42


def test_range_defaults() -> None:
    assert params.time_range(None, None, None, NOW) == (NOW - 3600 * S, NOW)
    assert params.time_range(None, None, "10m", NOW) == (NOW - 600 * S, NOW)
    with pytest.raises(BadRequest, match="end timestamp must not be before"):
        params.time_range("200", "100", None, NOW)


def test_step() -> None:
    assert params.step("60000ms", 0, NOW) == 60 * S
    assert params.step("1m30s", 0, NOW) == 90 * S
    assert params.step("0.5", 0, NOW) == S // 2
    assert params.step(None, 0, 3600 * S) == 14 * S  # floor(3600 / 250) s
    assert params.step(None, 0, 10 * S) == S
    for bad in ("0", "-1s", "abc", "nan"):
        with pytest.raises(BadRequest):
            params.step(bad, 0, NOW)


def test_limit_and_direction() -> None:
    assert params.limit(None) == 100
    assert params.limit("5000") == 5000
    with pytest.raises(BadRequest, match=r"\(6000 > 5000\)"):
        params.limit("6000")
    with pytest.raises(BadRequest):
        params.limit("0")
    assert params.direction(None) == "backward"
    assert params.direction("FORWARD") == "forward"
    with pytest.raises(BadRequest):
        params.direction("up")


@pytest.mark.parametrize("bad", ["yesterday", "1e400", "99999999999999999999999999", "nan"])
def test_bad_times(bad: str) -> None:
    with pytest.raises(BadRequest, match="invalid start parameter"):
        params.time_ns(bad, 0, "start")
