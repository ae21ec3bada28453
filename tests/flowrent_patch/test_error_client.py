"""Native error client (SPEC §7.2.1) and exception handler (§7.2.2) over real HTTP."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request

from flowrent_patch import error_client
from flowrent_patch.settings import MonitoringSettings
from tests.conftest import TEST_KEY, LiveServer
from tests.flowrent_patch.capture import CaptureServer, dead_url


def make_app() -> FastAPI:
    app = FastAPI()
    error_client.install_exception_handler(app)

    @app.post("/bookings/{booking_id}/cancel")
    def cancel(booking_id: int, request: Request) -> None:
        request.state.user_id = 42
        raise KeyError(f"no tariff for maria@example.com on booking {booking_id}")

    @app.get("/gone")
    def gone() -> None:
        raise HTTPException(status_code=410)

    @app.get("/ok")
    def ok() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_drain")
    async def drain() -> dict[str, int]:
        client = error_client.default_client()
        assert client is not None
        await client.drain()
        return {"sent": client.sent, "failed": client.failed}

    return app


def configure(url: str) -> None:
    error_client.configure(
        MonitoringSettings(
            error_tracker_url=url,
            error_tracker_api_key=TEST_KEY,
            sentry_environment="staging",
        )
    )


def test_unhandled_exception_is_reported_with_scrubbed_request_context() -> None:
    with CaptureServer(status=201, reply={"status": "created", "id": 1}) as tracker:
        configure(tracker.url + "/")
        with LiveServer(make_app()) as srv:
            response = httpx.post(
                srv.url + "/bookings/612345678/cancel?contact=ana@example.com",
                headers={"Authorization": "Bearer s3cret", "Cookie": "s=1", "X-Trace": "t"},
            )
            assert response.status_code == 500
            assert response.json() == {"detail": "Internal Server Error"}
            assert httpx.get(srv.url + "/gone").status_code == 410
            assert httpx.get(srv.url + "/_drain").json() == {"sent": 1, "failed": 0}
        captured = tracker.requests
    assert len(captured) == 1, "HTTPException is not reported"
    request = captured[0]
    assert request.path == "/api/errors"
    assert request.headers["X-API-Key"] == TEST_KEY
    body = request.json()
    assert body["project"] == "flowrent"
    assert body["environment"] == "staging"
    assert body["exception_type"] == "KeyError"
    assert body["message"] == "'no tariff for [email] on booking 612345678'"
    assert "Traceback (most recent call last)" in body["traceback"]
    assert "maria@example.com" not in body["traceback"]
    assert body["request_url"] == "/bookings/612345678/cancel?contact=[email]"
    assert body["request_method"] == "POST"
    headers = {k.lower(): v for k, v in body["request_headers"].items()}
    assert "authorization" not in headers and "cookie" not in headers
    assert headers["x-trace"] == "t"
    assert body["user_id"] == "42"
    assert body["extra"] == {"route": "/bookings/{booking_id}/cancel", "booking_id": "612345678"}


def test_tracker_down_costs_nothing_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    configure(dead_url())
    with caplog.at_level(logging.WARNING), LiveServer(make_app()) as srv:
        started = time.perf_counter()
        response = httpx.post(srv.url + "/bookings/1/cancel")
        took = time.perf_counter() - started
        assert response.status_code == 500
        assert httpx.get(srv.url + "/ok").status_code == 200
        assert httpx.get(srv.url + "/_drain").json() == {"sent": 0, "failed": 1}
    assert took < 2
    warnings = [r for r in caplog.records if r.name == "flowrent_patch.error_client"]
    assert any("unreachable" in w.getMessage() for w in warnings)


def test_slow_tracker_does_not_delay_the_response() -> None:
    with CaptureServer(status=201, reply={}, delay=2.0) as tracker:
        configure(tracker.url)
        with LiveServer(make_app()) as srv:
            started = time.perf_counter()
            assert httpx.post(srv.url + "/bookings/1/cancel").status_code == 500
            assert time.perf_counter() - started < 1.5, "fire-and-forget"
            assert httpx.get(srv.url + "/_drain").json() == {"sent": 1, "failed": 0}


def test_tracker_errors_are_counted_not_raised() -> None:
    with CaptureServer(status=401, reply={"detail": "Invalid API key"}) as tracker:
        configure(tracker.url)
        with LiveServer(make_app()) as srv:
            assert httpx.post(srv.url + "/bookings/1/cancel").status_code == 500
            assert httpx.get(srv.url + "/_drain").json() == {"sent": 0, "failed": 1}


def test_unconfigured_client_is_a_no_op() -> None:
    assert error_client.configure(MonitoringSettings()) is None
    with LiveServer(make_app()) as srv:
        assert httpx.post(srv.url + "/bookings/1/cancel").status_code == 500
