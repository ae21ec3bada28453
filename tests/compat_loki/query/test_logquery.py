"""The probe-then-index read of log queries with |= filters gives exactly the plain answer."""

from __future__ import annotations

import sqlite3

import pytest

from compat_loki.query import ast
from compat_loki.query.logquery import run_log_query
from compat_loki.query.parser import parse
from compat_loki.query.rangeagg import Deadline
from compat_loki.query.results import Stats
from compat_loki.store import StoreReader
from tests.compat_loki.query.logqltest import load

LINES = [
    # several lines share timestamps, so the probe's edge falls inside a tie
    '{app="a"} 1s x hit one',
    '{app="a"} 2s miss',
    '{app="b"} 2s x hit two',
    '{app="a"} 3s x hit three',
    '{app="b"} 3s x hit three',
    '{app="a"} 3s miss',
    '{app="b"} 4s x hit four',
    '{app="a"} 5s miss',
    '{app="a"} 6s x hit six',
]


def _lines(result: object) -> list[tuple[str, int, str]]:
    assert hasattr(result, "streams")
    return sorted(
        (labels.get("app"), ln.ts_ns, ln.line) for labels, lines in result.streams for ln in lines
    )


@pytest.mark.parametrize("direction", ["backward", "forward"])
@pytest.mark.parametrize("probe_rows", [1, 2, 3, 100])
@pytest.mark.parametrize("limit", [1, 3, 10])
@pytest.mark.parametrize("plain", [0, 3, 1000])
def test_probe_then_index_equals_a_full_scan(
    store_conn: sqlite3.Connection, direction: str, probe_rows: int, limit: int, plain: int
) -> None:
    load(store_conn, LINES)
    reader = StoreReader(store_conn)
    q = parse('{app=~"a|b"} |= "x hit"')
    assert isinstance(q, ast.LogQuery)
    args = (reader, q, 0, 10 * 10**9, direction, limit, False)
    got = run_log_query(*args, Stats(), Deadline(10), probe_rows=probe_rows, max_plain_rows=plain)  # type: ignore[arg-type]
    # the reference: every line through the pipeline, then the first `limit` in order
    every = run_log_query(
        reader,
        parse('{app=~"a|b"} |~ "x hit"'),
        0,
        10 * 10**9,
        direction,
        100,
        False,
        Stats(),
        Deadline(10),
    )  # type: ignore[arg-type]
    flat = [
        (labels.get("app"), ln.ts_ns, ln.line) for labels, lines in every.streams for ln in lines
    ]
    flat.sort(key=lambda t: t[1], reverse=direction == "backward")
    want_ts = sorted(t[1] for t in flat[:limit])
    assert sorted(t[1] for t in _lines(got)) == want_ts
    assert len(_lines(got)) == min(limit, len(flat))
    assert all("x hit" in t[2] for t in _lines(got))
    assert len(set(_lines(got))) == len(_lines(got))
