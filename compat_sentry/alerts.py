"""Alert delivery: drain the durable outbox to Postmark's ``/email`` API (SPEC ET-020..024).

Why an outbox: the ingest transaction writes the mail as a row next to its new group, so
an alert exists exactly when its group does; this job sends rows *after* the request
returned, and a crash, a restart or a Postmark outage only delays them.

Rules:

- One mail per row, to all ALERT_EMAILS at once (Postmark's ``To`` takes a comma list).
- 2xx: sent. 5xx, 429, timeouts and connection errors: retried with exponential backoff
  (``backoff_base * 2**attempts``, at most an hour) up to ``max_attempts``. Other 4xx
  (bad token, invalid address): failed at once, with Postmark's answer kept in
  ``last_error`` - retrying cannot fix those.
- ALERT_MAX_PER_HOUR: once that many mails went out in the last hour, further alerts are
  marked ``suppressed`` and one summary row is queued per hour-bucket, sent
  ``summary_delay`` seconds later so it can list the whole storm.
- httpx is imported inside ``_post`` only: a service that never mails does not pay its RSS.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from compat_sentry import alertmail, store
from compat_sentry.settings import ErrorsSettings
from core.context import ServiceContext

log = logging.getLogger("flowmon.errors.alerts")


class Retry(Exception):
    """A delivery failure worth another attempt."""


class Failed(Exception):
    """A delivery failure no retry can fix."""


class AlertSender:
    def __init__(self, ctx: ServiceContext, settings: ErrorsSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.backoff_base = 5.0
        self.max_attempts = 10
        self.summary_delay = 60.0
        self.timeout = 10.0
        self._lock = threading.Lock()  # one drain at a time, or a row could go out twice

    def run(self) -> None:
        """The background job's entry point."""
        self.deliver_due()

    def deliver_due(self) -> int:
        """Send what is due; returns the number of mails sent. Runs in a worker thread."""
        with self._lock:
            return self._deliver_due()

    def _deliver_due(self) -> int:
        now = time.time()
        with self.ctx.db.read() as conn:
            rows = store.due_alerts(conn, now)
            sent_last_hour = store.sent_since(conn, now - 3600)
        sent = 0
        for row in rows:
            if row.kind == "summary":
                subject, body = self._summary(row)
            elif sent_last_hour >= self.settings.alert_max_per_hour:
                self._suppress(row, now)
                continue
            else:
                subject, body = row.subject, row.body
            if self._attempt(row, subject, body):
                sent += 1
                if row.kind != "summary":
                    sent_last_hour += 1
        return sent

    def _summary(self, row: store.OutboxRow) -> tuple[str, str]:
        """Rendered at send time, so it lists every alert suppressed until then."""
        with self.ctx.db.read() as conn:
            subjects = store.suppressed_since(conn, row.created - 3600)
        return alertmail.summary(
            subjects, self.settings.alert_max_per_hour, self.settings.base_url.rstrip("/") + "/"
        )

    def _suppress(self, row: store.OutboxRow, now: float) -> None:
        bucket = int(now // 3600)

        def job(conn: Any) -> None:
            store.set_alert_status(conn, row.id, "suppressed")
            store.enqueue_alert(
                conn,
                kind="summary",
                dedupe_key=f"summary:{bucket}",
                group_id=None,
                recipients=row.recipients,
                subject="[flowmon] alert limit reached",
                body="(rendered when sent)",
                now=now,
                due=now + self.summary_delay,
            )

        self.ctx.writer.run_sync(job)

    def _attempt(self, row: store.OutboxRow, subject: str, body: str) -> bool:
        now = time.time()
        try:
            self._post(row.recipients, subject, body)
        except Retry as exc:
            error = str(exc)
            attempts = row.attempts + 1
            status = "pending" if attempts < self.max_attempts else "failed"
            delay = min(self.backoff_base * 2**attempts, 3600.0)
            log.warning("alert %s not delivered (attempt %d): %s", row.id, attempts, exc)
            self.ctx.writer.run_sync(
                lambda conn: store.set_alert_status(
                    conn,
                    row.id,
                    status,
                    attempts=attempts,
                    next_attempt=now + delay,
                    error=error,
                )
            )
            return False
        except Failed as exc:
            error = str(exc)
            log.error("alert %s refused by Postmark: %s", row.id, exc)
            self.ctx.writer.run_sync(
                lambda conn: store.set_alert_status(
                    conn, row.id, "failed", attempts=row.attempts + 1, error=error
                )
            )
            return False
        self.ctx.writer.run_sync(
            lambda conn: store.set_alert_status(
                conn, row.id, "sent", attempts=row.attempts + 1, sent=now, body=body
            )
        )
        return True

    def _post(self, recipients: str, subject: str, body: str) -> None:
        import httpx

        token = self.settings.postmark_api_token
        payload = {
            "From": self.settings.postmark_from_email,
            "To": recipients,
            "Subject": subject,
            "TextBody": body,
            "MessageStream": "outbound",
        }
        url = self.settings.postmark_api_url.rstrip("/") + "/email"
        try:
            response = httpx.post(
                url,
                content=json.dumps(payload).encode(),
                headers={
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                    "X-Postmark-Server-Token": token.get_secret_value() if token else "",
                },
                timeout=self.timeout,
            )
        except httpx.TransportError as exc:  # timeouts, refused connections, resets
            raise Retry(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise Retry(f"HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code >= 400:
            raise Failed(f"HTTP {response.status_code}: {response.text[:200]}")
