from __future__ import annotations

import asyncio
import threading
import time

from core.jobs import JobRunner


def test_jobs_run_periodically_survive_failures_and_stop() -> None:
    calls: list[str] = []

    async def scenario() -> None:
        runner = JobRunner()

        async def ok() -> None:
            calls.append("ok")

        def failing() -> None:
            calls.append("fail")
            raise RuntimeError("boom")

        def blocking() -> None:
            # Runs in a worker thread: the event loop stays free meanwhile.
            assert threading.current_thread() is not threading.main_thread()
            time.sleep(0.05)
            calls.append("sync")

        runner.every("ok", 0.02, ok, run_at_start=True)
        bad = runner.every("bad", 0.02, failing)
        runner.every("sync", 0.02, blocking)
        await runner.start()
        tick = time.monotonic()
        await asyncio.sleep(0.01)
        assert time.monotonic() - tick < 0.04  # loop not blocked by the sync job
        await asyncio.sleep(0.2)
        await runner.stop()
        n = len(calls)
        await asyncio.sleep(0.05)
        assert len(calls) == n  # nothing runs after stop
        assert bad.failures >= 2

    asyncio.run(scenario())
    assert calls.count("ok") >= 3
    assert calls.count("fail") >= 2
    assert calls.count("sync") >= 1


def test_wake_runs_a_job_before_its_interval() -> None:
    ran = asyncio.Event

    async def scenario() -> float:
        runner = JobRunner()
        done = ran()

        async def job() -> None:
            done.set()

        handle = runner.every("slow", 60, job)
        await runner.start()
        started = time.monotonic()
        runner.wake_threadsafe(handle)
        await asyncio.wait_for(done.wait(), 2)
        await runner.stop()
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 1
