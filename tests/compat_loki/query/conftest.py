"""A migrated log-store SQLite file per test (copied from one migrated template)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from compat_loki.service import HEAD, MIGRATIONS
from core import migrations
from core.db import connect, prepare_file


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logql-template") / "logs.db"
    prepare_file(path)
    migrations.upgrade(path, MIGRATIONS, HEAD)
    conn = connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@pytest.fixture
def store_conn(migrated_template: Path, tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "logs.db"
    shutil.copy(migrated_template, path)
    conn = connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    try:
        yield conn
    finally:
        conn.close()
