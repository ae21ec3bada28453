"""The store on a real SQLite file through the real writer: inserts, reader, search, trim."""

from __future__ import annotations

import itertools
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compat_loki import store
from compat_loki.records import LogRecord
from compat_loki.store import LogFilter, StoreReader, insert_entries, query_logs
from compat_loki.trigrams import trigram_query
from core.context import ServiceContext
from core.labels import Labels, Matcher
from tests.compat_loki.conftest import write

APP = Labels.of(container="app", stream="stdout", level="INFO")
APP_ERR = Labels.of(container="app", stream="stderr", level="ERROR")
DB = Labels.of(container="db", stream="stdout", level="INFO")
T0 = 1_700_000_000_000_000_000
SEC = 1_000_000_000


def load(ctx: ServiceContext, records: list[LogRecord], **kw: int) -> int:
    n: int = write(ctx, lambda c: insert_entries(c, records, **kw))
    return n


def test_insert_and_read_back_in_time_order(ctx: ServiceContext) -> None:
    recs = [
        LogRecord(APP, T0 + 3 * SEC, "third"),
        LogRecord(DB, T0 + 1 * SEC, "first", metadata=(("user_id", "42"),)),
        LogRecord(APP_ERR, T0 + 2 * SEC, "second"),
        LogRecord(APP, T0 + 2 * SEC, "second-tie"),
    ]
    assert load(ctx, recs) == 4
    with ctx.db.read() as conn:
        reader = StoreReader(conn)
        streams = reader.streams([Matcher("container", "=", "app")], T0, T0 + 10 * SEC)
        assert {s.labels for s in streams} == {APP, APP_ERR}
        ids = [s.id for s in reader.streams([], T0, T0 + 10 * SEC)]
        back = [e.line for e in reader.entries(ids, T0, T0 + 10 * SEC)]
        assert back == ["third", "second-tie", "second", "first"]
        fwd = list(reader.entries(ids, T0, T0 + 10 * SEC, direction="forward"))
        assert [e.line for e in fwd] == ["first", "second", "second-tie", "third"]
        assert fwd[0].metadata == (("user_id", "42"),)
        # start inclusive, end exclusive
        assert [e.line for e in reader.entries(ids, T0 + 2 * SEC, T0 + 3 * SEC)] == [
            "second-tie",
            "second",
        ]
        assert [e.line for e in reader.entries(ids, T0, T0 + 10 * SEC, limit=1)] == ["third"]
        assert reader.streams([], T0 + 5 * SEC, T0 + 10 * SEC) == []
        assert reader.label_names(T0, T0 + 10 * SEC) == ["container", "level", "stream"]
        assert reader.label_values("container", [], T0, T0 + 10 * SEC) == ["app", "db"]
        assert reader.label_values(
            "stream", [Matcher("level", "=", "ERROR")], T0, T0 + 10 * SEC
        ) == ["stderr"]


def test_contains_is_exact_substring_case_sensitive(ctx: ServiceContext) -> None:
    lines = [
        "ReadTimeout after 30s",
        "connection timeout after 31s",
        "timeouts: 3",
        "tim eout",
        "TIMEOUT",
        "ok 12",
    ]
    load(ctx, [LogRecord(APP, T0 + i, line) for i, line in enumerate(lines)])
    with ctx.db.read() as conn:
        reader = StoreReader(conn)
        ids = [s.id for s in reader.streams([], T0, T0 + SEC)]

        def find(*needles: str) -> list[str]:
            return [e.line for e in reader.entries(ids, T0, T0 + SEC, contains=needles)]

        assert find("timeout") == ["timeouts: 3", "connection timeout after 31s"]
        assert find("Timeout") == ["ReadTimeout after 30s"]
        assert find("after 3", "31") == ["connection timeout after 31s"]
        assert find("2") == ["ok 12"]  # shorter than a trigram: scanned
        assert find("30s") == ["ReadTimeout after 30s"]


def test_native_query_filters_search_and_pagination(ctx: ServiceContext) -> None:
    recs = [
        LogRecord(
            APP if i % 3 else APP_ERR, T0 + i * SEC, f"line {i} {'boom' if i % 5 == 0 else ''}"
        )
        for i in range(30)
    ] + [LogRecord(DB, T0 + i * SEC, f"db {i}") for i in range(10)]
    load(ctx, recs)
    with ctx.db.read() as conn:
        rows, total = query_logs(conn, LogFilter(), limit=5, offset=0)
        assert total == 40
        assert [r.ts_ns for r in rows] == sorted((r.ts_ns for r in rows), reverse=True)
        assert rows[0].line.startswith("line 29")
        rows2, _ = query_logs(conn, LogFilter(), limit=5, offset=5)
        assert rows2[0].ts_ns <= rows[-1].ts_ns and not {r.id for r in rows} & {r.id for r in rows2}
        rows, total = query_logs(conn, LogFilter(container="DB"), limit=100, offset=0)
        assert total == 10 and all(r.labels["container"] == "db" for r in rows)
        rows, total = query_logs(conn, LogFilter(level="err"), limit=100, offset=0)
        assert total == 10 and all(r.labels["level"] == "ERROR" for r in rows)
        rows, total = query_logs(conn, LogFilter(search="BOOM"), limit=2, offset=0)
        assert total == 6 and [r.line for r in rows] == ["line 25 boom", "line 20 boom"]
        f = LogFilter(since_ns=T0 + 10 * SEC, until_ns=T0 + 19 * SEC, container="app")
        rows, total = query_logs(conn, f, limit=100, offset=0)
        assert total == 10 and {r.ts_ns for r in rows} == {T0 + i * SEC for i in range(10, 20)}
        rows, total = query_logs(conn, LogFilter(search="%"), limit=10, offset=0)
        assert total == 0


_windows = itertools.count(1)
ALPHABET = string.ascii_letters[:6] + "0189 \"'*()é\x00"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(st.text(alphabet=ALPHABET, max_size=12), max_size=12),
    needle=st.text(alphabet=ALPHABET, max_size=5),
)
def test_search_matches_python_substring_oracle(
    ctx: ServiceContext, lines: list[str], needle: str
) -> None:
    base = T0 + next(_windows) * 1000 * SEC  # each example reads its own time window
    load(ctx, [LogRecord(APP, base + i, line) for i, line in enumerate(lines)])
    with ctx.db.read() as conn:
        reader = StoreReader(conn)
        ids = [s.id for s in reader.streams([], base, base + SEC)]
        found = reader.entries(ids, base, base + SEC, direction="forward", contains=[needle])
        got = [e.line for e in found]
        native, total = query_logs(
            conn,
            LogFilter(search=needle, since_ns=base, until_ns=base + SEC),
            limit=100,
            offset=0,
        )
    assert got == [line for line in lines if needle in line]
    want = [line for line in lines if needle.lower() in line.lower()] if needle else lines
    assert sorted(r.line for r in native) == sorted(want) and total == len(want)


def test_trigram_query_quotes_everything() -> None:
    assert trigram_query(['a"b AND c']) is not None
    assert trigram_query(["ab"]) is None
    assert trigram_query(["123", "123"]) == '"123"'


def test_ring_buffer_trims_oldest_in_batches_keeping_fts_consistent(ctx: ServiceContext) -> None:
    load(ctx, [LogRecord(APP, T0 + i, f"old needle {i}") for i in range(50)])
    load(ctx, [LogRecord(DB, T0 + 100 + i, f"new needle {i}") for i in range(30)], max_entries=40)
    with ctx.db.read() as conn:
        assert store.count_entries(conn) == 40
        _, total = query_logs(conn, LogFilter(search="needle"), limit=100, offset=0)
        assert total == 40
        assert store.counts_by(conn, "container") == {"app": 10, "db": 30}
        assert (
            conn.execute(
                "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH '\"old\"'"
            ).fetchone()[0]
            == 10
        )
    n = write(ctx, lambda c: store.trim(c, 5, batch=7))
    assert n == 7
    with ctx.db.read() as conn:
        assert store.count_entries(conn) == 33
        _, total = query_logs(conn, LogFilter(search="old"), limit=100, offset=0)
        assert total == 3


def test_logs_after_pages_and_never_skips(ctx: ServiceContext) -> None:
    load(ctx, [LogRecord(APP, T0 + i, f"tail {i}") for i in range(5)])
    load(ctx, [LogRecord(DB, T0 + 9, "a\x00b")])
    with ctx.db.read() as conn:
        first = store.last_id(conn) - 5
        rows, after, more = store.logs_after(conn, first - 1, LogFilter(), 2)
        assert [r.line for r in rows] == ["tail 0", "tail 1"] and more
        rows, after, more = store.logs_after(conn, after, LogFilter(), 10)
        assert [r.line for r in rows] == ["tail 2", "tail 3", "tail 4", "a\x00b"] and not more
        assert store.logs_after(conn, after, LogFilter(), 10) == ([], after, False)
        rows, scanned, _ = store.logs_after(conn, first - 1, LogFilter(search="\x00B"), 10)
        assert [r.line for r in rows] == ["a\x00b"] and scanned == after
        rows, _, _ = store.logs_after(conn, first - 1, LogFilter(level="error"), 10)
        assert rows == []


def test_nul_lines_are_found_and_trimmed_from_the_index(ctx: ServiceContext) -> None:
    load(ctx, [LogRecord(APP, T0 + i, f"x\x00needle{i}") for i in range(4)])
    load(ctx, [LogRecord(APP, T0 + 10 + i, f"needle plain {i}") for i in range(4)])
    with ctx.db.read() as conn:
        assert query_logs(conn, LogFilter(search="\x00NEEDLE"), limit=10, offset=0)[1] == 4
        assert query_logs(conn, LogFilter(search="needle"), limit=10, offset=0)[1] == 8
    write(ctx, lambda c: store.trim(c, 5))
    with ctx.db.read() as conn:
        fts = "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH '\"eed\"'"
        assert conn.execute(fts).fetchone()[0] == 5  # the index forgot exactly the 3 trimmed
        assert query_logs(conn, LogFilter(search="needle"), limit=10, offset=0)[1] == 5
