"""SPEC §6.4.3 job metrics: ``job_executed_total{job_name,status}``, ``job_duration_seconds``.

Three ways in, for three kinds of scheduler:

* ``monitored_job("name")``: a decorator for sync or async job functions;
* ``job_timer("name")``: a context manager around any block;
* ``attach_apscheduler(scheduler)``: FlowRent's APScheduler 3.x (``add_listener``). It is
  duck-typed: APScheduler is not a dependency of flowmon and is imported only when this
  function runs. APScheduler's events carry no start time, so the duration is measured
  from the job's *submission* to its executor (``EVENT_JOB_SUBMITTED``) to its end; a
  missed run counts as ``status="missed"``.

``status`` is ``success`` or ``failure`` (or ``missed``): a small fixed set, as labels
must be.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from flowrent_patch import metrics_client

P = ParamSpec("P")
R = TypeVar("R")

# APScheduler 3.x event codes (apscheduler/events.py), used when it cannot be imported.
EVENT_JOB_EXECUTED = 2**12
EVENT_JOB_ERROR = 2**13
EVENT_JOB_MISSED = 2**14
EVENT_JOB_SUBMITTED = 2**15


def record_job(job_name: str, status: str, duration: float | None) -> None:
    metrics_client.counter("job_executed_total", {"job_name": job_name, "status": status})
    if duration is not None:
        metrics_client.histogram("job_duration_seconds", {"job_name": job_name}, duration)


@contextlib.contextmanager
def job_timer(job_name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        record_job(job_name, "failure", time.perf_counter() - started)
        raise
    record_job(job_name, "success", time.perf_counter() - started)


def monitored_job(job_name: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: time and count every run of a job function (sync or async)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        name = job_name or fn.__name__
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                with job_timer(name):
                    return await fn(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with job_timer(name):
                return fn(*args, **kwargs)

        return run

    return decorate


class APSchedulerListener:
    """Callable given to ``scheduler.add_listener``; thread-safe (executors are pools)."""

    def __init__(self) -> None:
        self._submitted: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        code = getattr(event, "code", 0)
        job_id = str(getattr(event, "job_id", "unknown"))
        if code == EVENT_JOB_SUBMITTED:
            with self._lock:
                self._submitted[job_id].append(time.perf_counter())
            return
        if code == EVENT_JOB_MISSED:
            record_job(job_id, "missed", None)
            return
        if code not in (EVENT_JOB_EXECUTED, EVENT_JOB_ERROR):
            return
        with self._lock:
            starts = self._submitted.get(job_id)
            started = starts.popleft() if starts else None
            if starts is not None and not starts:
                del self._submitted[job_id]
        duration = time.perf_counter() - started if started is not None else None
        failed = code == EVENT_JOB_ERROR or getattr(event, "exception", None) is not None
        record_job(job_id, "failure" if failed else "success", duration)


def attach_apscheduler(scheduler: Any) -> APSchedulerListener:
    """Register the listener on an APScheduler 3.x scheduler (anything with add_listener)."""
    listener = APSchedulerListener()
    mask = EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
    try:
        from apscheduler import events  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        listener_codes = (
            events.EVENT_JOB_SUBMITTED,
            events.EVENT_JOB_EXECUTED,
            events.EVENT_JOB_ERROR,
            events.EVENT_JOB_MISSED,
        )
        if listener_codes != (
            EVENT_JOB_SUBMITTED,
            EVENT_JOB_EXECUTED,
            EVENT_JOB_ERROR,
            EVENT_JOB_MISSED,
        ):
            raise RuntimeError("unsupported APScheduler version: event codes differ from 3.x")
    scheduler.add_listener(listener, mask)
    return listener
