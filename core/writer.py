"""The single writer of one SQLite database: queue → batch → BEGIN IMMEDIATE → group commit.

SQLite allows one writer at a time; many small transactions each pay an fsync-ish WAL
commit. So every write in a service is a *job* (a function of a connection) handed to one
thread, which takes whatever jobs are waiting (up to ``batch_max``), runs them in one
``BEGIN IMMEDIATE`` transaction and commits once. That is where ingest throughput comes from.

Each job runs inside its own SAVEPOINT: a job that raises (a constraint error, a bug) is
rolled back alone and its caller gets the exception, while the other jobs of the batch still
commit. A caller's future resolves only after COMMIT returned, so whatever a client was told
is stored survives a ``kill -9`` of the process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from core.db import connect
from core.errors import Unavailable

log = logging.getLogger("flowmon.writer")

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]
_STOP = object()
RELEASE_AFTER_S = 2.0  # quiet time after a commit before the connection frees its cache


class Writer:
    """Owns the one write connection of a database file and the thread that uses it."""

    def __init__(
        self,
        path: Path,
        *,
        batch_max: int = 1000,
        name: str = "writer",
        release_after_s: float = RELEASE_AFTER_S,
    ) -> None:
        self.path = path
        self.batch_max = batch_max
        self.name = name
        self.release_after_s = release_after_s
        self.releases = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._commit_listeners: list[Callable[[], None]] = []
        self._idle_listeners: list[Callable[[], None]] = []
        self._rollback_listeners: list[Callable[[sqlite3.Connection], None]] = []
        self.commits = 0
        self.jobs_done = 0

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (in the writer thread) after every successful commit."""
        self._commit_listeners.append(listener)

    def on_rollback(self, listener: Callable[[sqlite3.Connection], None]) -> None:
        """Call ``listener(conn)`` (in the writer thread) after a job's work was rolled back
        (the job raised, or the commit failed): caches of what the database holds that the
        job updated in memory are stale then."""
        self._rollback_listeners.append(listener)

    def _notify(self, kind: str, listeners: list[Callable[..., None]], *args: Any) -> None:
        """Call each listener; one that fails is logged and the others still run."""
        for listener in listeners:
            try:
                listener(*args)
            except Exception:
                log.exception("%s: %s listener failed", self.name, kind)

    def on_idle(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (in the writer thread) when the queue has run empty."""
        self._idle_listeners.append(listener)

    def start(self) -> None:
        if self._thread is not None:
            return
        conn = connect(self.path)
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name=f"flowmon-{self.name}", daemon=True
        )
        self._thread.start()

    def submit(self, job: Job[T]) -> concurrent.futures.Future[T]:
        """Queue ``job``; the future resolves after the transaction holding it committed."""
        if self._stopping or self._thread is None:
            raise Unavailable("the writer is not running (starting up or shutting down)")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((job, future))
        return future

    async def run(self, job: Job[T]) -> T:
        """Submit ``job`` and wait for its commit without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(job))

    def run_sync(self, job: Job[T], timeout: float | None = None) -> T:
        return self.submit(job).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish every queued job, commit, and close the connection."""
        if self._thread is None:
            return
        self._stopping = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            stop = False
            busy = False  # committed since the connection last gave its cache back
            while not stop:
                try:
                    item = self._queue.get(timeout=self.release_after_s if busy else None)
                except queue.Empty:
                    self._release_memory(conn)
                    busy = False
                    continue
                if item is _STOP:
                    break
                batch = [item]
                while len(batch) < self.batch_max:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        stop = True
                        break
                    batch.append(more)
                self._commit_batch(conn, batch)
                busy = True
                if self._queue.empty():
                    self._notify("idle", self._idle_listeners)
        finally:
            conn.close()

    def _release_memory(self, conn: sqlite3.Connection) -> None:
        """A burst is over: the connection frees its page cache (~2 MB, which the OS page
        cache also holds) and the idle listeners (``memory.TRIMMER``) give it back."""
        try:
            conn.execute("PRAGMA shrink_memory")
        except sqlite3.Error as exc:  # pragma: no cover - SQLite does not fail this
            log.warning("%s: shrink_memory failed: %s", self.name, exc)
        self.releases += 1
        self._notify("idle", self._idle_listeners)

    def _commit_batch(
        self, conn: sqlite3.Connection, batch: list[tuple[Job[Any], concurrent.futures.Future[Any]]]
    ) -> None:
        done: list[tuple[concurrent.futures.Future[Any], Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for _, future in batch:
                if future.set_running_or_notify_cancel():
                    future.set_exception(Unavailable(f"database busy: {exc}"))
            return
        for job, future in batch:
            if not future.set_running_or_notify_cancel():
                continue
            conn.execute("SAVEPOINT job")
            try:
                result = job(conn)
            except BaseException as exc:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                self._notify("rollback", self._rollback_listeners, conn)
                future.set_exception(exc)
                continue
            conn.execute("RELEASE job")
            done.append((future, result))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("%s: commit failed: %s", self.name, exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._notify("rollback", self._rollback_listeners, conn)
            for future, _ in done:
                future.set_exception(Unavailable(f"commit failed: {exc}"))
            return
        self.commits += 1
        self.jobs_done += len(done)
        for future, result in done:
            future.set_result(result)
        self._notify("commit", self._commit_listeners)
