"""One SQLite file per service: connection setup, read connections, per-query time limits.

Why raw ``sqlite3`` here and SQLAlchemy only for migrations: importing SQLAlchemy costs
~11 MB RSS and Alembic another ~11 MB (measured on the 2-core dev box), against a budget of
80 MB for all three services together. So the running services talk to SQLite through the
standard library, and ``core.migrations`` imports Alembic (and with it SQLAlchemy) only when
a database is behind its head revision.

Every connection gets the same PRAGMAs: WAL (readers never block the writer),
``synchronous=NORMAL`` (a commit survives a process crash; only an OS crash may lose the last
transactions, acceptable per SPEC §9.2 "best effort"), a ``busy_timeout`` so the rare
cross-process writer (``flowmon migrate`` while running) waits instead of failing, and
foreign keys on. Files are created 600 and the folder 700 (SPEC §10.5).
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from core.errors import Unavailable
from core.fsmodes import ensure_private_dir, ensure_private_file

BUSY_TIMEOUT_MS = 5000
PROGRESS_STEPS = 20_000  # VM steps between deadline checks: ~1 ms of work each time


def connect(
    path: Path, *, readonly: bool = False, cache_kib: int | None = None
) -> sqlite3.Connection:
    """Open ``path`` with flowmon's PRAGMAs; autocommit mode (we issue BEGIN ourselves).

    ``cache_kib`` caps the connection's page cache (SQLite's default is 2,000 KiB, kept
    per connection, so a pool of readers can hold several MB of pages the OS caches too).
    """
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA temp_store=MEMORY")
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    if cache_kib is not None:
        conn.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
    return conn


def prepare_file(path: Path) -> None:
    """Create the database file and folder with private modes and switch it to WAL."""
    ensure_private_dir(path.parent)
    ensure_private_file(path)
    conn = connect(path)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{path}: SQLite refused WAL mode (got {mode})")
    finally:
        conn.close()


class Database:
    """The SQLite file of one service: a pool of read connections and their time limit.

    Writes do not go through here but through ``core.writer.Writer``, the single writer.
    """

    def __init__(
        self,
        path: Path,
        *,
        query_timeout: float = 30.0,
        pool_size: int = 4,
        read_cache_kib: int | None = None,
    ) -> None:
        self.path = path
        self.query_timeout = query_timeout
        self.read_cache_kib = read_cache_kib
        prepare_file(path)
        self._pool: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._opened = 0
        self._closed = False

    def _acquire(self) -> sqlite3.Connection:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._opened < self._pool_size:
                self._opened += 1
                return connect(self.path, readonly=True, cache_kib=self.read_cache_kib)
        return self._pool.get(timeout=self.query_timeout)

    @contextlib.contextmanager
    def read(self, timeout: float | None = None) -> Iterator[sqlite3.Connection]:
        """A read-only connection whose statements are interrupted past ``timeout`` seconds.

        An interrupted statement raises ``Unavailable`` (503), which every protocol renders
        as its timeout error.
        """
        if self._closed:
            raise Unavailable("database is closed (shutting down)")
        conn = self._acquire()
        deadline = time.monotonic() + (self.query_timeout if timeout is None else timeout)

        def check() -> int:
            return 1 if time.monotonic() > deadline else 0

        conn.set_progress_handler(check, PROGRESS_STEPS)
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise Unavailable("query timed out") from exc
            raise
        finally:
            conn.set_progress_handler(None, 0)
            if conn.in_transaction:
                conn.rollback()
            self._pool.put(conn)

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                total += Path(str(self.path) + suffix).stat().st_size
        return total

    def close(self) -> None:
        """Close read connections and fold the WAL back into the main file."""
        self._closed = True
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                break
        conn = connect(self.path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
