"""Alert mails through a local Postmark-shaped HTTP server that checks token and body."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from starlette.testclient import TestClient

from compat_sentry import store
from tests.compat_sentry.conftest import AUTH
from tests.compat_sentry.test_grouping import SPEC_TRACEBACK

TOKEN = "postmark-server-token-for-tests"
RECIPIENTS = "ops@example.com, dev@example.com"


class Postmark:
    """Answers like Postmark's /email: 200 on a valid request, 422 on a bad body, 401 on a
    wrong token; ``fail_next`` answers 500 that many times first, ``delay`` sleeps."""

    def __init__(self) -> None:
        self.mails: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.fail_next = 0
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(outer.delay)
                if self.path != "/email":
                    return self._answer(404, {"ErrorCode": 404})
                if self.headers.get("X-Postmark-Server-Token") != TOKEN:
                    outer.refused.append("token")
                    return self._answer(401, {"ErrorCode": 10, "Message": "bad token"})
                if outer.fail_next > 0:
                    outer.fail_next -= 1
                    return self._answer(500, {"ErrorCode": 500})
                mail = json.loads(body)
                if self.headers.get("Content-Type") != "application/json" or not all(
                    isinstance(mail.get(k), str) and mail[k] for k in ("From", "To", "Subject")
                ):
                    outer.refused.append("body")
                    return self._answer(422, {"ErrorCode": 300})
                outer.mails.append(mail)
                self._answer(200, {"ErrorCode": 0, "Message": "OK", "To": mail["To"]})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.mails) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.mails


@pytest.fixture
def postmark() -> Iterator[Postmark]:
    server = Postmark()
    yield server
    server.close()


@pytest.fixture
def alerting(
    make_client: Callable[..., TestClient], postmark: Postmark
) -> Callable[..., TestClient]:
    def make(**overrides: Any) -> TestClient:
        options = {
            "postmark_api_token": TOKEN,
            "postmark_api_url": postmark.url,
            "alert_emails": RECIPIENTS,
            "postmark_from_email": "errors@flowrent.example",
            "base_url": "https://errors.flowrent.example",
            **overrides,
        }
        client = make_client(**options)
        sender = client.app.state.ctx.extra["alerts"]
        sender.backoff_base = 0.05
        sender.summary_delay = 0.0
        return client

    return make


def native(**fields: Any) -> dict[str, Any]:
    body = {
        "project": "flowrent",
        "environment": "prod",
        "exception_type": "ValueError",
        "message": "invalid input " + "x" * 60,
        "traceback": SPEC_TRACEBACK,
        "request_url": "/api/bookings",
        "request_method": "POST",
    }
    body.update(fields)
    return body


def post(client: TestClient, body: dict[str, Any]) -> Any:
    response = client.post("/api/errors", json=body, headers=AUTH)
    assert response.status_code in (200, 201), response.text
    return response.json()


def deliver(client: TestClient) -> int:
    sent: int = client.app.state.ctx.extra["alerts"].deliver_due()
    return sent


def test_new_error_mail_matches_spec_template(
    alerting: Callable[..., TestClient], postmark: Postmark
) -> None:
    client = alerting()
    created = post(client, native())
    mails = postmark.wait_for(1)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["From"] == "errors@flowrent.example"
    assert mail["To"] == "ops@example.com, dev@example.com"
    assert mail["Subject"] == "[flowrent] ValueError: " + ("invalid input " + "x" * 60)[:50]
    group = client.get(f"/api/errors/{created['id']}", headers=AUTH).json()
    assert mail["TextBody"] == (
        "New error in flowrent (prod)\n\n"
        "Exception: ValueError\n"
        f"Message: invalid input {'x' * 60}\n\n"
        "Request: POST /api/bookings\n"
        f"Time: {group['first_seen']}\n\n"
        "Traceback:\n"
        f"{SPEC_TRACEBACK}\n\n"
        "---\n"
        f"View in Error Tracker: https://errors.flowrent.example/errors/{created['id']}\n"
    )
    # Second occurrence: no second mail, ever.
    post(client, native())
    deliver(client)
    time.sleep(0.2)
    assert len(postmark.mails) == 1
    assert postmark.refused == []
    # Retention compacts the mail text but keeps the row that blocks a second mail.
    ctx = client.app.state.ctx
    assert ctx.writer.run_sync(lambda conn: store.compact_outbox(conn, time.time() + 1)) == 1
    # Even when retention deleted the group and the fingerprint comes back as "created".
    group_id = created["id"]
    ctx.writer.run_sync(lambda conn: store.resolve(conn, group_id, time.time() - 10))
    ctx.writer.run_sync(lambda conn: store.delete_resolved_before(conn, time.time()))
    assert post(client, native())["status"] == "created"
    deliver(client)
    time.sleep(0.2)
    assert len(postmark.mails) == 1


def test_mail_is_sent_after_the_response(
    alerting: Callable[..., TestClient], postmark: Postmark
) -> None:
    postmark.delay = 2.0
    client = alerting()
    start = time.monotonic()
    post(client, native())
    assert time.monotonic() - start < 1.5, "the request waited for Postmark"
    assert len(postmark.wait_for(1)) == 1


def test_retry_with_backoff_on_5xx(alerting: Callable[..., TestClient], postmark: Postmark) -> None:
    postmark.fail_next = 2
    client = alerting()
    post(client, native())
    deadline = time.monotonic() + 10
    while not postmark.mails and time.monotonic() < deadline:
        deliver(client)
        time.sleep(0.05)
    assert len(postmark.mails) == 1
    with client.app.state.ctx.db.read() as conn:
        [row] = store.outbox(conn)
    assert (row["status"], row["attempts"]) == ("sent", 3)


def test_retry_on_timeout(alerting: Callable[..., TestClient], postmark: Postmark) -> None:
    client = alerting()
    client.app.state.ctx.extra["alerts"].timeout = 0.2
    postmark.delay = 0.5
    post(client, native())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with client.app.state.ctx.db.read() as conn:
            [row] = store.outbox(conn)
        if row["attempts"] >= 1:
            break
        time.sleep(0.05)
    assert row["status"] == "pending" and row["attempts"] >= 1
    assert "Timeout" in row["last_error"]
    postmark.delay = 0.0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        deliver(client)
        with client.app.state.ctx.db.read() as conn:
            if store.outbox(conn)[0]["status"] == "sent":
                break
        time.sleep(0.05)
    # The timed-out attempt may have reached Postmark too; what matters is no mail is lost.
    assert 1 <= len(postmark.mails) <= 2


def test_wrong_token_fails_without_retry(
    alerting: Callable[..., TestClient], postmark: Postmark
) -> None:
    client = alerting(postmark_api_token="not-the-token")
    post(client, native())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with client.app.state.ctx.db.read() as conn:
            [row] = store.outbox(conn)
        if row["status"] != "pending":
            break
        time.sleep(0.05)
    assert row["status"] == "failed" and "401" in row["last_error"]
    assert postmark.refused == ["token"]  # one attempt: no retry can fix a wrong token
    assert postmark.mails == []


def test_outbox_survives_restart(
    make_settings: Callable[..., Any], migrated_template: Any, postmark: Postmark
) -> None:
    from compat_sentry.service import create_app
    from compat_sentry.settings import ErrorsSettings
    from tests.compat_sentry.conftest import _seed
    from tests.conftest import in_process

    def settings(url: str) -> ErrorsSettings:
        made: ErrorsSettings = make_settings(
            ErrorsSettings,
            postmark_api_token=TOKEN,
            postmark_api_url=url,
            alert_emails=RECIPIENTS,
        )
        _seed(made, migrated_template)
        return made

    with in_process(create_app(settings("http://127.0.0.1:9"))) as client:  # nothing listens
        client.app.state.ctx.extra["alerts"].backoff_base = 0.05
        post(client, native())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with client.app.state.ctx.db.read() as conn:
                [row] = store.outbox(conn)
            if row["attempts"] >= 1:
                break
            time.sleep(0.05)
        assert row["status"] == "pending" and row["attempts"] >= 1
        assert "ConnectError" in row["last_error"]
    with in_process(create_app(settings(postmark.url))) as client:
        client.app.state.ctx.extra["alerts"].backoff_base = 0.05
        deadline = time.monotonic() + 15
        while not postmark.mails and time.monotonic() < deadline:
            deliver(client)
            time.sleep(0.05)
        assert len(postmark.mails) == 1
        with client.app.state.ctx.db.read() as conn:
            [row] = store.outbox(conn)
        assert row["status"] == "sent"


def test_regression_alert_is_optional(
    alerting: Callable[..., TestClient], postmark: Postmark
) -> None:
    client = alerting()
    error_id = post(client, native())["id"]
    postmark.wait_for(1)
    client.post(f"/api/errors/{error_id}/resolve", headers=AUTH)
    post(client, native())
    deliver(client)
    assert len(postmark.mails) == 1  # ALERT_ON_REGRESSION is off by default (ET-014)

    client2 = alerting(alert_on_regression=True)
    other = native(traceback='File "/app/z.py", line 9, in z')
    error_id = post(client2, other)["id"]
    postmark.wait_for(2)
    client2.post(f"/api/errors/{error_id}/resolve", headers=AUTH)
    post(client2, other)
    mails = postmark.wait_for(3)
    assert len(mails) == 3
    assert mails[2]["TextBody"].startswith("Regression in flowrent (prod)")


def test_alert_storm_is_capped_with_one_summary(
    alerting: Callable[..., TestClient], postmark: Postmark
) -> None:
    client = alerting(alert_max_per_hour=3)
    client.app.state.ctx.extra["alerts"].summary_delay = 1.0  # the storm arrives within it
    for i in range(10):
        post(client, native(traceback=f'File "/app/storm.py", line {i}, in f'))
    deadline = time.monotonic() + 10
    while len(postmark.mails) < 4 and time.monotonic() < deadline:
        deliver(client)
        time.sleep(0.05)
    deliver(client)
    time.sleep(0.2)
    mails = postmark.mails
    assert len(mails) == 4, [m["Subject"] for m in mails]
    summary = mails[-1]
    assert summary["Subject"] == "[flowmon] 7 more new errors (alert limit reached)"
    assert summary["TextBody"].count("- [flowrent] ValueError") == 7
    with client.app.state.ctx.db.read() as conn:
        statuses = sorted(r["status"] for r in store.outbox(conn))
    assert statuses.count("suppressed") == 7 and statuses.count("sent") == 4
