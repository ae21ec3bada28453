"""Background jobs of a service (aggregation, retention, tailing, alert delivery).

They start in the app's lifespan and stop cleanly on shutdown. A job's failure is logged
and the job runs again at its next turn; it never reaches a request. Blocking work (SQLite,
file reads) runs in a worker thread so request handling on the event loop is never held up.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("flowmon.jobs")

JobFn = Callable[[], Awaitable[None] | None]


@dataclass
class Job:
    name: str
    interval: float
    fn: JobFn
    run_at_start: bool = False
    _wake: asyncio.Event | None = field(default=None, repr=False)
    runs: int = 0
    failures: int = 0

    def wake(self) -> None:
        """Run the job now instead of at its next interval (thread-safe via the loop)."""
        if self._wake is not None:
            self._wake.set()


class JobRunner:
    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def every(self, name: str, seconds: float, fn: JobFn, *, run_at_start: bool = False) -> Job:
        job = Job(name, seconds, fn, run_at_start)
        self.jobs.append(job)
        return job

    def wake_threadsafe(self, job: Job) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(job.wake)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for job in self.jobs:
            job._wake = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._loop_job(job), name=job.name))

    async def stop(self, grace: float = 10.0) -> None:
        if self._stop is None:
            return
        self._stop.set()
        for job in self.jobs:
            job.wake()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks.clear()

    async def run_once(self, job: Job) -> None:
        try:
            if inspect.iscoroutinefunction(job.fn):
                await job.fn()
            else:
                result = await asyncio.to_thread(job.fn)
                if inspect.isawaitable(result):
                    await result
            job.runs += 1
        except Exception:
            job.failures += 1
            log.exception("job %s failed; it runs again in %ss", job.name, job.interval)

    async def _loop_job(self, job: Job) -> None:
        assert self._stop is not None and job._wake is not None
        if job.run_at_start:
            await self.run_once(job)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job._wake.wait(), timeout=job.interval)
            job._wake.clear()
            if self._stop.is_set():
                break
            await self.run_once(job)
