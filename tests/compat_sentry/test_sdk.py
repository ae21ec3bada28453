"""The stock sentry-sdk, with its real HTTP transport, against a live server on 127.0.0.1.

Nothing is mocked: the SDK builds envelopes, compresses them as it likes and posts them to
the DSN; the tests then read the result through the native API. Tracing stays off: the
tracker runs in the same process, so a traced SDK would trace its own envelope posts.
``sentry_sdk.init`` is process-global, so every test initialises its own client and closes
it afterwards.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
from fastapi import FastAPI
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from starlette.testclient import TestClient

from compat_sentry.service import create_app
from compat_sentry.settings import ErrorsSettings
from tests.compat_sentry.conftest import (
    AUTH,
    FIXTURE_KEY,
    FIXTURE_PROJECT,
    _seed,
    add_project,
)
from tests.conftest import LiveServer

THIS_FILE = str(Path(__file__).resolve())


class Tracker:
    def __init__(self, srv: LiveServer) -> None:
        self.srv = srv
        self.dsn = f"http://{FIXTURE_KEY}@127.0.0.1:{srv.port}/{FIXTURE_PROJECT}"

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.srv.url + path, params=params, headers=AUTH, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def groups(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get("/api/errors", project="fixtures")["errors"]
        return found

    def metric(self, needle: str) -> float:
        text = self.srv.server.config.app.state.ctx.metrics.exposition().decode()
        for line in text.splitlines():
            if line.startswith(needle):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture
def tracker_factory(
    make_settings: Callable[..., Any], migrated_template: Path
) -> Iterator[Callable[..., Tracker]]:
    servers: list[LiveServer] = []

    def make(**overrides: Any) -> Tracker:
        settings = make_settings(ErrorsSettings, **overrides)
        _seed(settings, migrated_template)
        srv = LiveServer(create_app(settings)).__enter__()
        servers.append(srv)
        add_project(srv.server.config.app, "fixtures", FIXTURE_KEY, FIXTURE_PROJECT)
        return Tracker(srv)

    yield make
    for srv in servers:
        srv.__exit__(None, None, None)


@pytest.fixture
def tracker(tracker_factory: Callable[..., Tracker]) -> Tracker:
    return tracker_factory()


@pytest.fixture
def sdk() -> Iterator[Callable[..., None]]:
    def init(dsn: str, **options: Any) -> None:
        sentry_sdk.init(
            dsn=dsn,
            default_integrations=False,
            auto_enabling_integrations=False,
            environment="sdk-test",
            release="app@9.9.9",
            **options,
        )

    yield init
    sentry_sdk.flush(5)
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
    assert not sentry_sdk.get_client().is_active(), "an SDK client leaked out of the test"


def validate_input(data: str) -> None:
    if not data:
        raise ValueError("invalid input")  # the line every test expects as the location


RAISE_LINE = validate_input.__code__.co_firstlineno + 2


def test_capture_exception_outside_a_framework(tracker: Tracker, sdk: Callable[..., None]) -> None:
    sdk(tracker.dsn)
    sentry_sdk.set_user({"id": "u-17", "email": "a@example.com"})
    sentry_sdk.set_tag("area", "checkout")
    for _ in range(3):
        try:
            validate_input("")
        except ValueError:
            sentry_sdk.capture_exception()
    assert sentry_sdk.flush(5) is None
    found = tracker.groups()
    assert len(found) == 1
    group = found[0]
    assert (group["exception_type"], group["message"], group["count"]) == (
        "ValueError",
        "invalid input",
        3,
    )
    assert group["environment"] == "sdk-test"
    detail = tracker.get(f"/api/errors/{group['id']}")
    assert detail["user_id"] == "u-17"
    assert f'File "{THIS_FILE}", line {RAISE_LINE}, in validate_input' in detail["traceback"]
    events = tracker.get(f"/api/errors/{group['id']}/events")
    assert events["total"] == 3
    event = events["events"][0]["event"]
    assert event["tags"]["area"] == "checkout"
    assert event["release"] == "app@9.9.9"
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert frames[-1]["lineno"] == RAISE_LINE and frames[-1]["in_app"] is True


def test_same_bug_natively_and_through_the_sdk_is_one_group(
    tracker: Tracker, sdk: Callable[..., None]
) -> None:
    sdk(tracker.dsn)
    try:
        validate_input("")
    except ValueError as exc:
        sentry_sdk.capture_exception()
        text = "".join(traceback.format_exception(exc))
    sentry_sdk.flush(5)
    native = {
        "project": "fixtures",
        "exception_type": "ValueError",
        "message": "invalid input",
        "traceback": text,
    }
    response = httpx.post(tracker.srv.url + "/api/errors", json=native, headers=AUTH)
    assert response.json()["status"] == "incremented", response.text
    found = tracker.groups()
    assert [(g["exception_type"], g["count"]) for g in found] == [("ValueError", 2)]


def test_fastapi_integration(tracker: Tracker, sdk: Callable[..., None]) -> None:
    sdk(
        tracker.dsn,
        integrations=[StarletteIntegration(), FastApiIntegration()],
        data_collection={"user_info": True},
    )
    app = FastAPI()

    @app.post("/orders/{order_id}/pay")
    def pay(order_id: int) -> dict[str, int]:
        sentry_sdk.set_user({"id": "customer-5"})
        return {"share": order_id // 0}

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/orders/99/pay?retry=1", json={"amount": 5})
        assert response.status_code == 500
    sentry_sdk.flush(5)
    found = tracker.groups()
    assert len(found) == 1
    group = found[0]
    assert group["exception_type"] == "ZeroDivisionError"
    detail = tracker.get(f"/api/errors/{group['id']}")
    assert detail["request_method"] == "POST"
    assert detail["request_url"] == "http://testserver/orders/99/pay"
    assert detail["user_id"] == "customer-5"
    event = tracker.get(f"/api/errors/{group['id']}/events")["events"][0]["event"]
    assert event["request"]["query_string"] == "retry=1"
    assert event["transaction"] == "/orders/{order_id}/pay"


def test_fastapi_app_served_live(tracker: Tracker, sdk: Callable[..., None]) -> None:
    sdk(tracker.dsn, integrations=[StarletteIntegration(), FastApiIntegration()])
    app = FastAPI()

    @app.get("/boom")
    def boom() -> None:
        raise KeyError("live")

    with LiveServer(app) as srv:
        assert httpx.get(srv.url + "/boom").status_code == 500
    sentry_sdk.flush(5)
    group = tracker.groups()[0]
    assert group["exception_type"] == "KeyError"
    assert group["request_url"] == srv.url + "/boom"


def test_capture_message_groups_by_template(tracker: Tracker, sdk: Callable[..., None]) -> None:
    sdk(tracker.dsn, integrations=[LoggingIntegration(event_level=logging.ERROR)])
    sentry_sdk.capture_message("disk space low", level="warning")
    sentry_sdk.capture_message("disk space low", level="warning")
    log = logging.getLogger("tests.sdk")
    log.error("payment %s failed", "p-1")
    log.error("payment %s failed", "p-2")
    sentry_sdk.flush(5)
    found = {g["message"]: g for g in tracker.groups()}
    assert found["disk space low"]["count"] == 2
    assert found["disk space low"]["exception_type"] == "Message"
    payments = [g for g in found.values() if g["message"].startswith("payment")]
    assert len(payments) == 1 and payments[0]["count"] == 2


def test_client_fingerprint_override(tracker: Tracker, sdk: Callable[..., None]) -> None:
    sdk(tracker.dsn)
    for tenant in ("a", "b", "a"):
        with sentry_sdk.new_scope() as scope:
            scope.fingerprint = ["{{ default }}", tenant]
            try:
                validate_input("")
            except ValueError:
                sentry_sdk.capture_exception()
    sentry_sdk.flush(5)
    assert sorted(g["count"] for g in tracker.groups()) == [1, 2]


def test_sdk_backs_off_after_429(
    tracker_factory: Callable[..., Tracker], sdk: Callable[..., None]
) -> None:
    tracker = tracker_factory(rate_limit_per_minute=2)
    sdk(tracker.dsn)
    for n in range(6):
        try:
            raise RuntimeError(f"burst {n}")
        except RuntimeError:
            sentry_sdk.capture_exception()
        sentry_sdk.flush(5)
    limited = tracker.metric(
        'flowmon_http_requests_total{method="POST",service="errors",status="429"}'
    )
    assert limited == 1.0, "the SDK must stop sending errors after one 429"
    assert tracker.metric('flowmon_ingested_items_total{kind="event"') == 2.0
    # The SDK reports what it dropped locally because of the limit (client_report items).
    assert tracker.metric('flowmon_received_items_total{kind="client_report"') >= 1
    assert tracker.groups()[0]["count"] == 2
    # Other categories still go through: a check-in is sent and accepted.
    sentry_sdk.crons.capture_checkin(monitor_slug="nightly", status="ok")
    sentry_sdk.flush(5)
    assert tracker.metric('flowmon_received_items_total{kind="check_in"') == 1.0
