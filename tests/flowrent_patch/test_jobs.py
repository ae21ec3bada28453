"""Job metrics (SPEC §6.4.3): decorator, context manager and the APScheduler 3.x listener."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from flowrent_patch import business, jobs, metrics_client
from flowrent_patch.metrics_client import MetricsClient
from tests.conftest import TEST_KEY
from tests.flowrent_patch.capture import CaptureServer


@pytest.fixture
def collector() -> Any:
    with CaptureServer() as server:
        metrics_client.set_default(MetricsClient(server.url, TEST_KEY))
        yield server


def sent(server: CaptureServer) -> list[dict[str, Any]]:
    client = metrics_client.default_client()
    assert client is not None and client.flush()
    return [p for r in server.requests for p in r.json()["metrics"]]


def test_decorator_and_timer_count_success_and_failure(collector: CaptureServer) -> None:
    @jobs.monitored_job("send_reminders")
    def reminders(fail: bool) -> int:
        time.sleep(0.01)
        if fail:
            raise RuntimeError("postmark down")
        return 3

    @jobs.monitored_job()
    async def cleanup() -> str:
        await asyncio.sleep(0.01)
        return "done"

    assert reminders(False) == 3
    with pytest.raises(RuntimeError):
        reminders(True)
    assert asyncio.run(cleanup()) == "done"
    with jobs.job_timer("nightly_report"):
        pass
    points = sent(collector)
    executed = {
        (p["labels"]["job_name"], p["labels"]["status"]): p["value"]
        for p in points
        if p["name"] == "job_executed_total"
    }
    assert executed == {
        ("send_reminders", "success"): 1,
        ("send_reminders", "failure"): 1,
        ("cleanup", "success"): 1,
        ("nightly_report", "success"): 1,
    }
    durations = [p for p in points if p["name"] == "job_duration_seconds"]
    assert len(durations) == 4
    assert all(p["value"] >= 0.01 for p in durations if p["labels"]["job_name"] != "nightly_report")


@dataclass
class Event:
    """Shaped like apscheduler.events.JobSubmissionEvent / JobExecutionEvent (3.x)."""

    code: int
    job_id: str
    exception: BaseException | None = None


class Scheduler:
    """The part of APScheduler 3.x's BaseScheduler the listener relies on: add_listener."""

    def __init__(self) -> None:
        self.listeners: list[tuple[Any, int]] = []

    def add_listener(self, callback: Any, mask: int) -> None:
        self.listeners.append((callback, mask))

    def dispatch(self, event: Event) -> None:
        for callback, mask in self.listeners:
            if event.code & mask:
                callback(event)


def test_apscheduler_listener_times_from_submission(collector: CaptureServer) -> None:
    scheduler = Scheduler()
    jobs.attach_apscheduler(scheduler)
    scheduler.dispatch(Event(jobs.EVENT_JOB_SUBMITTED, "expire_holds"))
    time.sleep(0.02)
    scheduler.dispatch(Event(jobs.EVENT_JOB_EXECUTED, "expire_holds"))
    scheduler.dispatch(Event(jobs.EVENT_JOB_SUBMITTED, "expire_holds"))
    scheduler.dispatch(Event(jobs.EVENT_JOB_ERROR, "expire_holds", ValueError("x")))
    scheduler.dispatch(Event(jobs.EVENT_JOB_MISSED, "expire_holds"))
    points = sent(collector)
    executed = {
        p["labels"]["status"]: p["value"] for p in points if p["name"] == "job_executed_total"
    }
    assert executed == {"success": 1, "failure": 1, "missed": 1}
    durations = [p["value"] for p in points if p["name"] == "job_duration_seconds"]
    assert len(durations) == 2 and durations[0] >= 0.02


@pytest.mark.skipif(
    importlib.util.find_spec("apscheduler") is None,
    reason="APScheduler is not installed (FlowRent's dependency, not flowmon's)",
)
def test_with_real_apscheduler(collector: CaptureServer) -> None:  # pragma: no cover
    from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore

    done = threading.Event()
    scheduler = BackgroundScheduler()
    jobs.attach_apscheduler(scheduler)
    scheduler.add_job(done.set, id="tick")
    scheduler.start()
    assert done.wait(5)
    time.sleep(0.2)
    scheduler.shutdown()
    names = {p["labels"].get("job_name") for p in sent(collector)}
    assert "tick" in names


def test_business_helpers_use_spec_names_and_labels(collector: CaptureServer) -> None:
    business.booking_created("bike")
    business.booking_confirmed("bike")
    business.booking_cancelled("customer_request")
    business.payment_received("card")
    business.email_sent("booking_confirmation")
    business.email_failed("booking_confirmation", TimeoutError("slow"))
    business.email_failed("reminder", "inactive_recipient")
    got = {(p["name"], tuple(sorted(p["labels"].items()))) for p in sent(collector)}
    assert got == {
        ("booking_created_total", (("rental_item_type", "bike"),)),
        ("booking_confirmed_total", (("rental_item_type", "bike"),)),
        ("booking_cancelled_total", (("reason", "customer_request"),)),
        ("payment_received_total", (("method", "card"),)),
        ("email_sent_total", (("template", "booking_confirmation"),)),
        ("email_failed_total", (("error", "TimeoutError"), ("template", "booking_confirmation"))),
        ("email_failed_total", (("error", "inactive_recipient"), ("template", "reminder"))),
    }
