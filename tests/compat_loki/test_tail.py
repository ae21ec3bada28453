"""The Docker tailer against a real file tree: rotation, truncation, partial lines,
restarts, new containers, filters; the lines land in the real store."""

from __future__ import annotations

import json
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from compat_loki import store
from compat_loki.records import LogRecord
from compat_loki.store import LogFilter
from compat_loki.tail import Tailer, tail_start
from core.context import ServiceContext
from tests.compat_loki.dockertree import Container


def make_tailer(
    ctx: ServiceContext, root: Path, *, names: set[str] | None = None, tail_buffer: int = 1000
) -> Tailer:
    with ctx.db.read() as conn:
        cursors = store.load_cursors(conn)

    def write(records: list[LogRecord], cursor: store.Cursor) -> Future[int]:
        return ctx.writer.submit(lambda c: store.store_tail_batch(c, records, cursor, 100_000))

    return Tailer(root, names, tail_buffer, cursors, write)


def lines(ctx: ServiceContext, container: str | None = None) -> list[str]:
    with ctx.db.read() as conn:
        rows, _ = store.query_logs(conn, LogFilter(container=container), limit=500, offset=0)
    return [r.line for r in reversed(rows)]


def test_reads_names_levels_and_partial_lines(ctx: ServiceContext, tmp_path: Path) -> None:
    root = tmp_path / "other"
    app = Container(root, "a" * 64, "rentl_prod")
    app.write('INFO:     127.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK')
    app.write("Traceback (most recent call last):", stream="stderr")
    app.write_raw(app.record("x" * 10, newline=False) + app.record("y" * 5))
    app.write_raw(app.record("unfinished ", newline=False))
    tailer = make_tailer(ctx, root)
    assert tailer.tick() == 3
    assert lines(ctx) == [
        'INFO:     127.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK',
        "Traceback (most recent call last):",
        "x" * 10 + "y" * 5,
    ]
    with ctx.db.read() as conn:
        rows, _ = store.query_logs(conn, LogFilter(level="error"), limit=10, offset=0)
        assert [r.labels["container"] for r in rows] == ["rentl_prod"]
        assert rows[0].labels["stream"] == "stderr" and rows[0].raw == ""  # rebuilt exactly
        joined, _ = store.query_logs(conn, LogFilter(search="xxxy"), limit=10, offset=0)
        assert joined[0].raw is not None and joined[0].raw.count("\n") == 1
    app.write_raw(app.record("end"))  # the unfinished message gets its end
    assert tailer.tick() == 1
    assert lines(ctx)[-1] == "unfinished end"


def test_restart_neither_loses_nor_repeats(ctx: ServiceContext, tmp_path: Path) -> None:
    root = tmp_path / "other"
    app = Container(root, "b" * 64, "app")
    app.write(*(f"line {i}" for i in range(50)))
    first = make_tailer(ctx, root)
    first.tick()
    app.write(*(f"line {i}" for i in range(50, 80)))
    app.write_raw(app.record("half ", newline=False))
    second = make_tailer(ctx, root)  # a new process: cursors come from the database
    second.tick()
    app.write_raw(app.record("done"))
    third = make_tailer(ctx, root)
    third.tick()
    assert lines(ctx) == [f"line {i}" for i in range(80)] + ["half done"]


def test_rotation_finishes_old_file_then_reads_new(ctx: ServiceContext, tmp_path: Path) -> None:
    root = tmp_path / "other"
    app = Container(root, "c" * 64, "app")
    app.write("one", "two")
    tailer = make_tailer(ctx, root)
    tailer.tick()
    app.write("three")  # written before rotation, not read yet
    app.rotate()
    app.write("four")
    tailer.tick()
    app.write("five")
    app.rotate()
    app.rotate()  # twice between ticks: "five" is in .2 now, found by its inode
    app.write("six")
    tailer.tick()
    assert lines(ctx) == ["one", "two", "three", "four", "five", "six"]


def test_truncation_restarts_at_zero(ctx: ServiceContext, tmp_path: Path) -> None:
    root = tmp_path / "other"
    app = Container(root, "d" * 64, "app")
    app.write("before 1", "before 2", "before 3")
    tailer = make_tailer(ctx, root)
    tailer.tick()
    app.truncate()  # copytruncate
    app.write("after")
    tailer.tick()
    assert lines(ctx) == ["before 1", "before 2", "before 3", "after"]


def test_new_container_starts_from_tail_buffer_and_filter(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    root = tmp_path / "other"
    old = Container(root, "e" * 64, "rentl_prod")
    old.write(*(f"old {i}" for i in range(20)))
    Container(root, "f" * 64, "postgres").write("not watched")
    tailer = make_tailer(ctx, root, names={"rentl_prod"}, tail_buffer=5)
    tailer.tick()
    assert lines(ctx) == [f"old {i}" for i in range(15, 20)]
    new = Container(root, "9" * 64, "rentl_prod")  # a redeploy: new id, same name
    new.ts = old.ts
    new.write("new 1")
    tailer.tick()
    assert lines(ctx)[-1] == "new 1"
    assert "not watched" not in lines(ctx)


def test_tail_start(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a\nbb\nccc\n")
    assert tail_start(path, 2) == 2
    assert tail_start(path, 10) == 0
    assert tail_start(path, 0) == 9


def test_running_service_ingests_within_two_seconds(
    loki_app: tuple[TestClient, ServiceContext], docker_dir: Path
) -> None:
    client, _ = loki_app
    app = Container(docker_dir, "1" * 64, "rentl_prod")
    time.sleep(0.5)  # the first tick saw the empty file
    app.write("[ERROR] payment provider timeout")
    written = time.monotonic()
    while time.monotonic() - written < 2:
        body = client.get("/api/logs", params={"search": "provider timeout"}).json()
        if body["total"]:
            break
        time.sleep(0.05)
    assert body["total"] == 1 and body["logs"][0]["level"] == "ERROR"
    assert body["logs"][0]["container"] == "rentl_prod"


def test_failed_write_is_read_again_without_loss_or_repeat(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    root = tmp_path / "other"
    app = Container(root, "8" * 64, "app")
    app.write(*(f"line {i}" for i in range(10)))
    tailer = make_tailer(ctx, root)
    tailer.tick()
    app.write(*(f"line {i}" for i in range(10, 20)))
    good_write, calls = tailer.write, []

    def failing(records: list[LogRecord], cursor: store.Cursor) -> Future[int]:
        calls.append(len(records))

        def job(conn: object) -> int:
            raise RuntimeError("disk full")

        return ctx.writer.submit(job)

    tailer.write = failing
    with pytest.raises(RuntimeError):
        tailer.tick()
    assert calls == [10]
    tailer.write = good_write
    tailer.tick()
    assert lines(ctx) == [f"line {i}" for i in range(20)]


def test_small_chunks_cap_ticks_but_finish_rotated_files(
    ctx: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compat_loki import tail

    monkeypatch.setattr(tail, "CHUNK", 300)  # ~3 records per chunk
    monkeypatch.setattr(tail, "MAX_CHUNKS_PER_TICK", 2)
    root = tmp_path / "other"
    app = Container(root, "5" * 64, "app")
    app.write("first")
    tailer = make_tailer(ctx, root)
    tailer.tick()
    app.write(*(f"line {i} " + "x" * 40 for i in range(30)))
    tailer.tick()
    assert tailer.behind and 0 < len(lines(ctx)) < 31
    app.rotate()  # 30 lines wait in the rotated file, far more than one tick's cap
    app.write("after rotation " + "y" * 300)  # one message larger than a chunk
    tailer.tick()
    got = lines(ctx)
    assert got == [
        "first",
        *(f"line {i} " + "x" * 40 for i in range(30)),
        "after rotation " + "y" * 300,
    ]
    assert not tailer.behind


def test_records_no_date_can_show_are_skipped_not_stalled_on(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    """A record whose time parses (as a bare number) to a year past 9999 once raised while
    its raw JSON was checked, so the tailer re-read the same chunk forever. It is a bad
    record now: counted, skipped, and the lines around it are stored."""
    app = Container(tmp_path / "odd", "c" * 64, "odd_app")
    app.write("before")
    app.write_raw('{"log":"far future\\n","stream":"stdout","time":"1000000000000000000000"}\n')
    app.write_raw('{"log":"bad date\\n","stream":"stdout","time":"2025-02-30T00:00:00Z"}\n')
    app.write("after")
    tailer = make_tailer(ctx, tmp_path / "odd")
    assert tailer.tick() == 2
    assert lines(ctx, "odd_app") == ["before", "after"]
    assert tailer.stats.bad_records == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(max_size=20),
            st.sampled_from(["stdout", "stderr", "other"]),
            st.one_of(
                st.text(max_size=30),
                st.from_regex(
                    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,12})?(Z|[+-]\d\d:\d\d)?", fullmatch=True
                ),
                st.integers(-(10**22), 10**22).map(str),
            ),
        ),
        max_size=6,
    ),
    st.booleans(),
)
def test_decoding_any_json_file_content_never_raises(
    records: list[tuple[str, str, str]], ends_with_newline: bool
) -> None:
    """Whatever a json-file holds, decoding a chunk of it gives records and bad-record
    counts, never an exception (which would stall the tailer on that chunk)."""
    tailer = Tailer(Path("/nonexistent"), None, 10, {}, lambda r, c: Future())
    data = "\n".join(json.dumps({"log": log, "stream": s, "time": t}) for log, s, t in records)
    chunk = (data + ("\n" if ends_with_newline else "")).encode()
    for last in (False, True):
        _, used = tailer._decode(chunk, "app", last=last)
        assert 0 <= used <= len(chunk)
