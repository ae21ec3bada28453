from __future__ import annotations

import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from core.db import Database, connect
from core.errors import Unavailable
from core.writer import Writer


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "svc.db"


def test_file_and_folder_modes(db_path: Path) -> None:
    db = Database(db_path)
    try:
        assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
    finally:
        db.close()


def test_pragmas_are_applied(db_path: Path) -> None:
    db = Database(db_path)
    try:
        with db.read() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
            assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
            assert conn.execute("PRAGMA query_only").fetchone()[0] == 1
        writer_conn = connect(db_path)
        assert writer_conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert writer_conn.execute("PRAGMA synchronous").fetchone()[0] == 1
        writer_conn.close()
    finally:
        db.close()


def test_read_connections_cannot_write(db_path: Path) -> None:
    db = Database(db_path)
    try:
        with db.read() as conn, pytest.raises(sqlite3.OperationalError):
            conn.execute("CREATE TABLE t (x)")
    finally:
        db.close()


def test_slow_query_is_interrupted_with_unavailable(db_path: Path) -> None:
    db = Database(db_path, query_timeout=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable, match="timed out"), db.read() as conn:
            conn.execute(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                "SELECT count(*) FROM c"
            ).fetchone()
        assert time.monotonic() - started < 5
        with db.read() as conn:  # the connection went back to the pool in good shape
            assert conn.execute("SELECT 1").fetchone()[0] == 1
    finally:
        db.close()


def test_close_checkpoints_the_wal(db_path: Path) -> None:
    db = Database(db_path)
    writer = Writer(db_path)
    writer.start()
    writer.run_sync(lambda c: c.execute("CREATE TABLE t (x)"))
    writer.run_sync(lambda c: c.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(500)]))
    writer.stop()
    db.close()
    wal = Path(str(db_path) + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 500
    conn.close()


def _make_table(path: Path) -> Writer:
    writer = Writer(path, batch_max=100)
    writer.start()
    writer.run_sync(lambda c: c.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
    return writer


def test_writer_groups_jobs_into_one_commit(db_path: Path) -> None:
    Database(db_path).close()
    writer = _make_table(db_path)
    gate = threading.Event()
    try:
        # Hold the writer busy so the next jobs queue up behind it.
        blocker = writer.submit(lambda c: gate.wait(5))
        futures = [
            writer.submit(lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (i,)))
            for i in range(50)
        ]
        commits_before = writer.commits
        gate.set()
        blocker.result(5)
        for f in futures:
            f.result(5)
        assert writer.commits - commits_before <= 2  # 50 jobs, at most 2 transactions
    finally:
        writer.stop()
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 50
    conn.close()


def test_writer_failure_is_isolated_to_its_job(db_path: Path) -> None:
    Database(db_path).close()
    writer = _make_table(db_path)
    gate = threading.Event()
    try:
        blocker = writer.submit(lambda c: gate.wait(5))
        good1 = writer.submit(lambda c: c.execute("INSERT INTO t VALUES (1)"))

        def bad(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO t VALUES (2)")
            c.execute("INSERT INTO t VALUES (1)")  # constraint error: duplicate key

        failing = writer.submit(bad)
        good2 = writer.submit(lambda c: c.execute("INSERT INTO t VALUES (3)"))
        gate.set()
        blocker.result(5)
        good1.result(5)
        good2.result(5)
        with pytest.raises(sqlite3.IntegrityError):
            failing.result(5)
    finally:
        writer.stop()
    conn = sqlite3.connect(db_path)
    rows = [r[0] for r in conn.execute("SELECT x FROM t ORDER BY x")]
    conn.close()
    assert rows == [1, 3]  # the failing job's own first insert (2) was rolled back too


def test_writer_result_is_visible_after_future_resolves(db_path: Path) -> None:
    db = Database(db_path)
    writer = _make_table(db_path)
    try:
        writer.run_sync(lambda c: c.execute("INSERT INTO t VALUES (42)"))
        with db.read() as conn:
            assert conn.execute("SELECT x FROM t").fetchone()[0] == 42
    finally:
        writer.stop()
        db.close()


def test_writer_refuses_jobs_when_stopped(db_path: Path) -> None:
    Database(db_path).close()
    writer = Writer(db_path)
    with pytest.raises(Unavailable):
        writer.submit(lambda c: None)
    writer.start()
    writer.stop()
    with pytest.raises(Unavailable):
        writer.submit(lambda c: None)


def test_writer_drains_queue_on_stop(db_path: Path) -> None:
    Database(db_path).close()
    writer = _make_table(db_path)
    futures = [
        writer.submit(lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (i,)))
        for i in range(300)
    ]
    writer.stop()
    assert all(f.done() and f.exception() is None for f in futures)
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 300
    conn.close()


def test_commit_listener_runs_after_commit(db_path: Path) -> None:
    Database(db_path).close()
    writer = _make_table(db_path)
    seen: list[int] = []

    def listener() -> None:
        c = sqlite3.connect(db_path)
        seen.append(c.execute("SELECT count(*) FROM t").fetchone()[0])
        c.close()

    writer.on_commit(listener)
    try:
        writer.run_sync(lambda c: c.execute("INSERT INTO t VALUES (7)"))
    finally:
        writer.stop()
    assert seen and seen[-1] == 1


def test_writer_tells_rollback_listeners_when_a_job_fails(db_path: Path) -> None:
    from core.db import prepare_file

    prepare_file(db_path)
    writer = Writer(db_path)
    seen: list[sqlite3.Connection] = []
    writer.on_rollback(seen.append)
    writer.start()
    try:
        writer.run_sync(lambda conn: conn.execute("CREATE TABLE t (x)"), timeout=10)
        assert seen == []

        def fails(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (1)")
            raise ValueError("no")

        with pytest.raises(ValueError):
            writer.run_sync(fails, timeout=10)
        assert len(seen) == 1
        assert writer.run_sync(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 0
    finally:
        writer.stop()


def test_read_connections_take_the_page_cache_size_asked_for(db_path: Path) -> None:
    small = Database(db_path, read_cache_kib=512)
    default = Database(db_path)
    with small.read() as conn:
        assert conn.execute("PRAGMA cache_size").fetchone()[0] == -512
    with default.read() as conn:
        assert conn.execute("PRAGMA cache_size").fetchone()[0] == -2000  # SQLite's own
    small.close()
    default.close()
