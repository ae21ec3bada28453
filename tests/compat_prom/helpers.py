"""Shared test helpers: a migrated metrics database with a real writer connection."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from compat_prom.service import HEAD, MIGRATIONS
from core import migrations
from core.db import connect, prepare_file


@contextlib.contextmanager
def metrics_db(tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, sqlite3.Connection]]:
    """(write connection, read connection) on a freshly migrated metrics database."""
    path = tmp_path / "metrics.db"
    prepare_file(path)
    migrations.upgrade(path, MIGRATIONS, HEAD)
    w = connect(path)
    r = connect(path, readonly=True)
    try:
        yield w, r
    finally:
        w.close()
        r.close()


def write(conn: sqlite3.Connection, fn: object) -> object:
    """Run ``fn(conn)`` in a transaction, as the writer does."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)  # type: ignore[operator]
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result
