"""Every ``testdata/*.test`` file of LogQL cases, run against the real SQLite store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.compat_loki.query.logqltest import EntriesOnly, run_file

TESTDATA = Path(__file__).parent / "testdata"
FILES = sorted(TESTDATA.glob("*.test"))


def test_there_are_case_files() -> None:
    assert len(FILES) >= 5


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_case_file(store_conn: sqlite3.Connection, path: Path) -> None:
    failures = run_file(store_conn, path)
    assert not failures, "\n".join(failures)


def test_metrics_without_the_stores_counting_pushdown(store_conn: sqlite3.Connection) -> None:
    """The engine's fallback (counting through ``entries``) gives the same answers."""
    failures = run_file(store_conn, TESTDATA / "metrics.test", EntriesOnly)
    assert not failures, "\n".join(failures)
