"""Request-metrics middleware (SPEC §7.3.2) on a live FastAPI app, flushed to a real server."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, HTTPException

from flowrent_patch import metrics_client
from flowrent_patch.metrics_client import MetricsClient
from flowrent_patch.middleware import RequestMetricsMiddleware
from tests.conftest import TEST_KEY, LiveServer
from tests.flowrent_patch.capture import CaptureServer


def make_app(client: MetricsClient | None = None) -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestMetricsMiddleware, client=client, exclude=["/health"])

    @app.get("/bookings/{booking_id}")
    def get_booking(booking_id: int) -> dict[str, int]:
        if booking_id == 404:
            raise HTTPException(status_code=404)
        return {"id": booking_id}

    @app.post("/bookings/{booking_id}/confirm")
    async def confirm(booking_id: int) -> dict[str, int]:
        raise ValueError("boom")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    admin = FastAPI()
    router = APIRouter()

    @router.get("/users/{user_id}/profile")
    def profile(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    admin.include_router(router)
    app.mount("/admin", admin)
    return app


def series(collector: CaptureServer, name: str) -> list[dict[str, Any]]:
    return [p for r in collector.requests for p in r.json()["metrics"] if p["name"] == name]


def test_requests_are_labelled_by_route_template() -> None:
    with CaptureServer() as collector:
        client = MetricsClient(collector.url, TEST_KEY)
        with LiveServer(make_app(client)) as srv:
            for booking_id in (1, 2, 3):
                assert httpx.get(f"{srv.url}/bookings/{booking_id}").status_code == 200
            assert httpx.get(f"{srv.url}/bookings/404").status_code == 404
            assert httpx.get(f"{srv.url}/bookings/abc").status_code == 422
            assert httpx.post(f"{srv.url}/bookings/9/confirm").status_code == 500
            for path in ("/wp-login.php", "/x/1", "/x/2"):
                assert httpx.get(srv.url + path).status_code == 404
            assert httpx.delete(f"{srv.url}/bookings/1").status_code == 405
            assert httpx.get(f"{srv.url}/admin/users/7/profile").status_code == 200
            assert httpx.get(f"{srv.url}/health").status_code == 200
            assert client.flush()
    totals = {
        (p["labels"]["method"], p["labels"]["endpoint"], p["labels"]["status"]): p["value"]
        for p in series(collector, "http_requests_total")
    }
    assert totals == {
        ("GET", "/bookings/{booking_id}", "200"): 3,
        ("GET", "/bookings/{booking_id}", "404"): 1,
        ("GET", "/bookings/{booking_id}", "422"): 1,
        ("POST", "/bookings/{booking_id}/confirm", "500"): 1,
        ("GET", "<unmatched>", "404"): 3,
        ("DELETE", "/bookings/{booking_id}", "405"): 1,
        ("GET", "/admin/users/{user_id}/profile", "200"): 1,
    }
    durations = series(collector, "http_request_duration_seconds")
    assert len(durations) == 11
    assert all(0 < p["value"] < 5 for p in durations)
    assert {tuple(sorted(p["labels"])) for p in durations} == {("endpoint", "method", "status")}
    in_progress = series(collector, "http_requests_in_progress")
    assert [(p["labels"], p["value"]) for p in in_progress] == [({}, 0)]


def test_default_client_is_used_and_absent_client_is_harmless() -> None:
    with LiveServer(make_app()) as srv:
        assert httpx.get(f"{srv.url}/bookings/1").status_code == 200
    with CaptureServer() as collector:
        client = MetricsClient(collector.url, TEST_KEY)
        metrics_client.set_default(client)
        with LiveServer(make_app()) as srv:
            assert httpx.get(f"{srv.url}/bookings/1").status_code == 200
        assert client.flush()
    assert len(series(collector, "http_requests_total")) == 1
