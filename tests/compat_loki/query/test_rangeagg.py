"""Range aggregations: the SQL bucket path and the per-line path agree on random data."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compat_loki.query.engine import Engine, QueryParams
from compat_loki.query.parser import parse
from compat_loki.query.results import MatrixResult
from compat_loki.records import LogRecord
from compat_loki.store import StoreReader, insert_entries
from core.db import connect
from core.labels import Labels
from tests.compat_loki.query.logqltest import EntriesOnly

S = 10**9
STREAMS = [Labels.of(app="x", level=lvl) for lvl in ("info", "error")]


def _matrix(conn: sqlite3.Connection, query: str, p: QueryParams, plain: bool) -> object:
    reader = EntriesOnly(conn) if plain else StoreReader(conn)
    result = Engine(reader).range_query(parse(query), p)
    assert isinstance(result, MatrixResult)
    return [(labels, [(t, round(v, 9)) for t, v in pts]) for labels, pts in result.series]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    times=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 600)), min_size=1, max_size=60),
    range_s=st.sampled_from([1, 7, 30, 60, 90]),
    step_s=st.sampled_from([1, 5, 20, 45, 60]),
    offset_s=st.sampled_from([0, 13]),
    start_s=st.integers(0, 300),
    op=st.sampled_from(["count_over_time", "rate", "bytes_over_time", "bytes_rate"]),
    needle=st.sampled_from(["", ' |= "b"']),
)
def test_bucket_path_equals_line_path(
    migrated_template: Path,
    times: list[tuple[int, int]],
    range_s: int,
    step_s: int,
    offset_s: int,
    start_s: int,
    op: str,
    needle: str,
) -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "logs.db"
        shutil.copy(migrated_template, path)
        conn = connect(path)
        records = [
            LogRecord(STREAMS[s], t * S, "ab" * (1 + t % 3) if t % 2 else "a é") for s, t in times
        ]
        conn.execute("BEGIN IMMEDIATE")
        insert_entries(conn, records)
        conn.execute("COMMIT")
        offset = f" offset {offset_s}s" if offset_s else ""
        bucketed = f'sum by (level) ({op}({{app="x"}}{needle} [{range_s}s]{offset}))'
        per_line = f'sum by (level) ({op}({{app="x"}}{needle} | level=~".+" [{range_s}s]{offset}))'
        p = QueryParams(start_s * S, (start_s + 300) * S, step_s * S)
        want = _matrix(conn, per_line, p, plain=True)
        assert _matrix(conn, bucketed, p, plain=False) == want
        assert _matrix(conn, bucketed, p, plain=True) == want
        conn.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
