"""Every recorded sentry-python request is accepted as Sentry accepts it, and each event
fixture lands in the group a reader of the fixture expects (table-driven)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from compat_sentry.protocol.envelope import parse_envelope
from tests.compat_sentry.conftest import (
    AUTH,
    decoded,
    fixture_names,
    groups,
    load_fixture,
    replay,
)

ValueErrorAtMain17 = ("ValueError", "could not load config", "/app/main.py:17")
# name → (exception_type, message, "file:line" of the last in-app frame) or, for message
# events, ("Message", message, None); None: no event item, nothing stored.
EXPECTED: dict[str, tuple[str, str, str | None] | None] = {
    "attachments": ("Message", "report with attachments", None),
    "checkin-crontab-in-progress": None,
    "checkin-crontab-ok": None,
    "checkin-interval-error": None,
    "checkin-interval-in-progress": None,
    "exception-brotli": ValueErrorAtMain17,
    "exception-chained-unhandled": ValueErrorAtMain17,
    "exception-gzip": ValueErrorAtMain17,
    "fastapi-exception": ("ZeroDivisionError", "division by zero", "/app/main.py:52"),
    "fastapi-sessions-aggregate": None,
    "fastapi-transaction-500": None,
    "fastapi-transaction-get": None,
    "feedback-associated-event": ("Message", "something broke for the user", None),
    "feedback": None,
    "logs": None,
    "message-warning": ("Message", "disk space low on /var", None),
    "session-app-exception": ValueErrorAtMain17,
    "session-app-session": None,
    "span-stream-v2": None,
    "store-exception-gzip": ("ValueError", "could not load config", "/app/legacy.py:7"),
    "store-message": ("Message", "legacy store message", None),
    "trace-metrics": None,
    "transaction-spans": None,
}


def test_table_covers_every_fixture() -> None:
    assert sorted(EXPECTED) == fixture_names()


def _expected_fingerprint(exc_type: str, message: str, location: str | None) -> str:
    key = f"fixtures:message:{message}" if location is None else f"fixtures:{exc_type}:{location}"
    return hashlib.md5(key.encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(client: TestClient, name: str) -> None:
    _meta, _ = load_fixture(name)
    response = replay(client, name)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    expected = EXPECTED[name]
    found = groups(client, project="fixtures")
    if expected is None:
        assert found == []
        return
    assert len(found) == 1
    group = found[0]
    assert (group["exception_type"], group["message"]) == expected[:2]
    assert group["fingerprint"] == _expected_fingerprint(*expected)
    assert group["environment"] == "fixtures"
    assert response.json()["id"] == _event_id(name)
    events = client.get(f"/api/errors/{group['id']}/events", headers=AUTH).json()
    assert events["total"] == 1
    assert events["events"][0]["event_id"] == _event_id(name)
    assert events["events"][0]["event"]["release"] == "fixture-app@1.2.3"
    # A duplicate event_id is idempotent: same answer, no second occurrence.
    again = replay(client, name)
    assert again.status_code == 200 and again.json() == response.json()
    assert groups(client, project="fixtures")[0]["count"] == 1


def _event_id(name: str) -> str:
    body = decoded(name)
    if name.startswith("store-"):
        return str(json.loads(body)["event_id"])
    return str(parse_envelope(body).headers["event_id"])


def test_same_bug_in_four_fixtures_is_one_group(client: TestClient) -> None:
    names = ["exception-brotli", "exception-gzip", "exception-chained-unhandled"]
    names.append("session-app-exception")
    for name in names:
        assert replay(client, name).status_code == 200
    found = groups(client, project="fixtures")
    assert [(g["exception_type"], g["count"]) for g in found] == [("ValueError", 4)]


def test_non_event_items_are_counted_in_self_metrics(client: TestClient) -> None:
    for name in ("logs", "trace-metrics", "checkin-crontab-ok", "fastapi-sessions-aggregate"):
        assert replay(client, name).status_code == 200
    text = client.app.state.ctx.metrics.exposition().decode()
    assert 'flowmon_received_items_total{kind="log",service="errors"} 4.0' in text
    assert 'flowmon_received_items_total{kind="trace_metric",service="errors"} 3.0' in text
    assert 'flowmon_received_items_total{kind="check_in",service="errors"} 1.0' in text
    assert 'flowmon_received_items_total{kind="sessions",service="errors"} 1.0' in text


def test_fastapi_fixture_keeps_request_context(client: TestClient) -> None:
    replay(client, "fastapi-exception")
    group = groups(client, project="fixtures")[0]
    detail = client.get(f"/api/errors/{group['id']}", headers=AUTH).json()
    assert detail["request_url"] == "http://testserver/orders/99/pay"
    assert detail["request_method"] == "POST"
    assert detail["traceback"].startswith("Traceback (most recent call last):")
    assert detail["traceback"].endswith("ZeroDivisionError: division by zero")
    assert 'File "/app/main.py", line 52' in detail["traceback"]


def test_message_fixture_keeps_user(client: TestClient) -> None:
    replay(client, "message-warning")
    group = groups(client, project="fixtures")[0]
    detail = client.get(f"/api/errors/{group['id']}", headers=AUTH).json()
    assert detail["user_id"] == "42"
    assert detail["extra"]


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"X-Sentry-Auth": "Sentry sentry_key=" + "ab" * 16}, 401, "invalid public key"),
        ({"X-Sentry-Auth": "Sentry sentry_version=7"}, 401, "missing authorization"),
        ({"X-Sentry-Auth": "Sentry sentry_key=nothex"}, 401, "invalid sentry_key"),
    ],
)
def test_wrong_credentials(
    client: TestClient, change: dict[str, str], status: int, detail: str
) -> None:
    response = replay(client, "message-warning", **change)
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert response.headers["x-sentry-error"]
    assert response.headers["access-control-allow-origin"] == "*"


def test_key_of_another_project_is_403(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    meta, body = load_fixture("message-warning")
    headers = {k: v for k, v in meta["headers"] if k.lower() not in ("host", "content-length")}
    response = client.post("/api/1/envelope/", content=body, headers=headers)
    assert response.status_code == 403
    assert "does not belong to project 1" in response.json()["detail"]
    response = client.post("/api/999/envelope/", content=body, headers=headers)
    assert response.status_code == 403
