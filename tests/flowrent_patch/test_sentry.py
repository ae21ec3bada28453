"""init_sentry with the real SDK transport sending to a capturing HTTP server."""

from __future__ import annotations

import logging

import httpx
import sentry_sdk
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from flowrent_patch.sentry import current_trace_id, init_sentry, scrub_event, sdk_reporting
from flowrent_patch.settings import MonitoringSettings
from tests.conftest import LiveServer
from tests.flowrent_patch.capture import CaptureServer

EMAIL = "maria.garcia@example.com"
PHONE = "+34 612 345 678"
STREET = "Calle de Colón 12"
CLIENT_IP = "10.1.2.3"


class Confirm(BaseModel):
    customer_email: str
    note: str
    days: int = 1


def make_app() -> FastAPI:
    app = FastAPI()
    log = logging.getLogger("app.routes.bookings")
    log.setLevel(logging.INFO)

    @app.post("/bookings/{booking_id}/confirm")
    def confirm(booking_id: int, body: Confirm) -> dict[str, int]:
        customer_email = body.customer_email  # a local variable the SDK would send
        log.info("calling customer %s", PHONE)
        sentry_sdk.set_user({"id": "42", "email": customer_email, "ip_address": CLIENT_IP})
        sentry_sdk.set_extra("customer", {"address": STREET, "email": EMAIL, "booking_id": 7})
        sentry_sdk.set_extra("note", f"lives at {STREET}, phone {PHONE}")
        raise ValueError(f"cannot confirm booking {booking_id} for {customer_email}")

    @app.get("/teapot")
    def teapot() -> None:
        raise HTTPException(status_code=503, detail="maintenance")

    return app


def settings_for(tracker: CaptureServer) -> MonitoringSettings:
    return MonitoringSettings(
        sentry_dsn=f"http://publickey@127.0.0.1:{tracker.port}/1",
        sentry_environment="test",
        sentry_release="flowrent@1.2.3",
        metrics_collector_url="http://127.0.0.1:9/",
    )


def test_init_without_dsn_does_nothing() -> None:
    assert init_sentry(MonitoringSettings()) is False
    assert not sdk_reporting()
    assert current_trace_id() is None


def test_events_reach_the_tracker_scrubbed() -> None:
    with CaptureServer(status=200, reply={"id": "x"}) as tracker:
        assert init_sentry(settings_for(tracker))
        with LiveServer(make_app()) as srv:
            assert httpx.get(srv.url + "/teapot").status_code == 503
            bad = httpx.post(srv.url + "/bookings/1/confirm", json={"customer_email": 1})
            assert bad.status_code == 422
            response = httpx.post(
                srv.url + "/bookings/612345678/confirm?ref=" + EMAIL,
                json={"customer_email": EMAIL, "note": f"call {PHONE}"},
                headers={"Authorization": "Bearer s3cret", "Cookie": "session=abc123"},
            )
            assert response.status_code == 500
        sentry_sdk.flush(5)
        captured = tracker.wait_for(1)
    events = [e for c in captured for e in c.events()]
    assert len(events) == 1, "HTTPException and RequestValidationError are not reported"
    assert all(c.path == "/api/1/envelope/" for c in captured)
    raw = b"".join(c.body for c in captured).decode()
    for secret in (EMAIL, "612 345 678", "Colón", "s3cret", "session=abc123", "10.1.2.3"):
        assert secret not in raw, f"{secret!r} leaked to the tracker"
    event = events[0]
    assert event["environment"] == "test"
    assert event["release"] == "flowrent@1.2.3"
    assert event["exception"]["values"][-1]["type"] == "ValueError"
    assert event["exception"]["values"][-1]["value"] == (
        "cannot confirm booking 612345678 for [email]"
    )
    assert event["user"] == {"id": "42"}
    assert event["extra"]["customer"] == {
        "address": "[Filtered]",
        "email": "[Filtered]",
        "booking_id": 7,
    }
    assert event["extra"]["note"] == "lives at [address], phone [phone]"
    request = event["request"]
    assert request["method"] == "POST"
    assert "/bookings/612345678/confirm" in request["url"]
    headers = {k.lower() for k in request.get("headers", {})}
    assert "authorization" not in headers and "cookie" not in headers
    assert request["data"]["customer_email"] == "[Filtered]"
    assert request["data"]["note"] == "call [phone]"
    crumbs = [b.get("message") for b in event.get("breadcrumbs", {}).get("values", [])]
    assert "calling customer [phone]" in crumbs
    assert event["contexts"]["trace"]["trace_id"]


def test_scrub_event_drops_credentials_and_keeps_ids() -> None:
    event = {
        "message": f"mail {EMAIL}",
        "request": {
            "headers": {"Authorization": "x", "Cookie": "y", "X-Request-Id": "r1"},
            "cookies": {"s": "1"},
            "env": {"REMOTE_ADDR": "1.2.3.4"},
            "url": "http://h/bookings/5",
        },
        "user": {"id": 9, "email": EMAIL, "username": "maria"},
        "breadcrumbs": {"values": [{"message": f"phone {PHONE}", "data": {"booking_id": 5}}]},
    }
    out = scrub_event(event)
    assert out["message"] == "mail [email]"
    assert out["request"] == {"headers": {"X-Request-Id": "r1"}, "url": "http://h/bookings/5"}
    assert out["user"] == {"id": 9}
    assert out["breadcrumbs"]["values"][0] == {
        "message": "phone [phone]",
        "data": {"booking_id": 5},
    }
    assert event["user"]["email"] == EMAIL


def test_breadcrumbs_of_the_stacks_own_traffic_are_dropped() -> None:
    with CaptureServer(status=200, reply={"id": "x"}) as tracker, CaptureServer() as collector:
        settings = settings_for(tracker).model_copy(update={"metrics_collector_url": collector.url})
        init_sentry(settings)
        with sentry_sdk.isolation_scope():
            httpx.post(collector.url + "/api/metrics", json={"metrics": []})
            httpx.post(collector.url.replace("127.0.0.1", "localhost") + "/other", json={})
            sentry_sdk.capture_message("probe")
        sentry_sdk.flush(5)
        captured = tracker.wait_for(1)
    event = captured[0].events()[0]
    urls = [b.get("data", {}).get("url") for b in event["breadcrumbs"]["values"]]
    assert not any(u and u.startswith(collector.url) for u in urls)
    assert any(u and "localhost" in u for u in urls)


def test_traced_requests_send_scrubbed_transactions() -> None:
    with CaptureServer(status=200, reply={"id": "x"}) as tracker:
        settings = settings_for(tracker).model_copy(update={"sentry_traces_sample_rate": 1.0})
        init_sentry(settings)
        with LiveServer(make_app()) as srv:
            assert httpx.get(srv.url + "/teapot?contact=" + EMAIL).status_code == 503
        sentry_sdk.flush(5)
        captured = tracker.wait_for(1)
    events = [e for c in captured for e in c.events()]
    transactions = [e for e in events if e.get("type") == "transaction"]
    assert [t["transaction"] for t in transactions] == ["/teapot"]
    assert not [e for e in events if e.get("type") != "transaction"], "503 is not an error"
    raw = b"".join(c.body for c in captured).decode()
    assert EMAIL not in raw and "[email]" in raw
