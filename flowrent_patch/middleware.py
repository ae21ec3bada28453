"""SPEC §7.3.2 request-metrics middleware, labelled by route template.

A raw path as a label (``/bookings/8812``) would create one series per booking and grow
the collector without bound; the route template (``/bookings/{booking_id}``) is what the
dashboard's "top endpoints" means. The template comes from the route Starlette matched
(``scope["route"]``, set by the router in the same scope dict this middleware holds),
prefixed with any ``Mount`` path; requests no route matched are one
``endpoint="<unmatched>"`` so scanners probing random URLs add one series, not thousands.

Pure ASGI (not ``BaseHTTPMiddleware``): no extra task per request, streaming responses
untouched, and an exception that escapes the app still counts as a 500 before it is
re-raised to Starlette's error handling. Recording is a few dict/deque operations under
the metrics client's lock; the HTTP happens in its flush thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowrent_patch import metrics_client
from flowrent_patch.metrics_client import MetricsClient

UNMATCHED = "<unmatched>"
REQUESTS_TOTAL = "http_requests_total"
DURATION_SECONDS = "http_request_duration_seconds"
IN_PROGRESS = "http_requests_in_progress"


def route_template(scope: Scope, entry_root_path: str = "") -> str:
    """The matched route's path template, or ``<unmatched>``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    root_path: str = scope.get("root_path", "")
    prefix = root_path[len(entry_root_path) :] if root_path.startswith(entry_root_path) else ""
    return prefix + path


class RequestMetricsMiddleware:
    """``app.add_middleware(RequestMetricsMiddleware)``; uses the configured default client."""

    def __init__(
        self,
        app: ASGIApp,
        client: MetricsClient | None = None,
        exclude: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.client = client
        self.exclude = frozenset(exclude)
        self._in_progress = 0
        self._lock = threading.Lock()

    def _client(self) -> MetricsClient | None:
        return self.client if self.client is not None else metrics_client.default_client()

    def _move(self, client: MetricsClient, delta: int) -> None:
        with self._lock:
            self._in_progress += delta
            value = self._in_progress
        client.gauge(IN_PROGRESS, None, value)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self._client()
        if scope["type"] != "http" or client is None or scope["path"] in self.exclude:
            await self.app(scope, receive, send)
            return
        entry_root = scope.get("root_path", "")
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self._move(client, 1)
        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            self._move(client, -1)
            labels: dict[str, Any] = {
                "method": scope["method"],
                "endpoint": route_template(scope, entry_root),
                "status": str(status),
            }
            client.counter(REQUESTS_TOTAL, labels)
            client.histogram(DURATION_SECONDS, labels, elapsed)
