"""FlowRent's APScheduler jobs, as a plain asyncio loop (APScheduler is not our dependency).

Each run goes through ``monitored_job`` exactly as a FlowRent job would, so
``job_executed_total`` / ``job_duration_seconds`` arrive; one run in ten fails, logged with
its traceback (which the SDK's logging integration turns into an error event).
"""

from __future__ import annotations

import asyncio
import logging
import random

from flowrent_patch.demo.services import EmailService
from flowrent_patch.demo.store import BookingStore
from flowrent_patch.jobs import monitored_job

log = logging.getLogger("app.scheduler")


class Scheduler:
    def __init__(self, store: BookingStore, email: EmailService, interval: float) -> None:
        self.store = store
        self.email = email
        self.interval = interval
        self.rng = random.Random()

    def send_reminders(self) -> int:
        sent = 0
        for booking in self.store.confirmed(3):
            if self.email.send("pickup_reminder", booking["customer_email"], booking["id"]):
                sent += 1
        if self.rng.random() < 0.1:
            raise RuntimeError("reminder batch aborted: Postmark rate limit")
        return sent

    async def run(self) -> None:
        job = monitored_job("send_reminders")(self.send_reminders)
        while True:
            await asyncio.sleep(self.interval)
            try:
                sent = await asyncio.to_thread(job)
            except Exception:
                log.exception("job send_reminders failed")
            else:
                log.info("job send_reminders done", extra={"emails": sent})
