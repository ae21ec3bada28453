"""SPEC §7.2.1 native error client and the §7.2.2 exception handler.

For apps that do not use the Sentry SDK: ``report_error(request, exception)`` builds the
SPEC §4.4.1 body and POSTs it to ``/api/errors`` in a background task, so the request that
failed is answered without waiting (fire-and-forget), with a 5 s timeout and no retries
(best effort, SPEC §7.2.1). It never raises: when the tracker is down FlowRent logs one
warning (at most once a minute, with a count of the failures since) and carries on
(SPEC §9.2). The body is scrubbed like SDK events (SPEC §10.3).

The exception handler reports through this client only when the Sentry SDK is *not*
initialised: with ``SENTRY_DSN`` set the SDK already captures the same exception with more
context, and reporting twice would double every count in the tracker.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from flowrent_patch.scrub import drop_headers, scrub, scrub_text
from flowrent_patch.sentry import sdk_reporting
from flowrent_patch.settings import MonitoringSettings, secret
from flowrent_patch.throttle import ThrottledWarning

TIMEOUT_SECONDS = 5.0
WARN_EVERY_SECONDS = 60.0

log = logging.getLogger(__name__)


class ErrorClient:
    """Sends native error reports; one instance per app (``configure`` makes the default)."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        project: str = "flowrent",
        environment: str = "prod",
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/api/errors"
        self.headers = {"X-API-Key": api_key} if api_key else {}
        self.project = project
        self.environment = environment
        self.timeout = timeout
        self.sent = 0
        self.failed = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._warn = ThrottledWarning(log, WARN_EVERY_SECONDS)

    def payload(self, request: Request | None, exc: BaseException) -> dict[str, Any]:
        """The SPEC §4.4.1 body, scrubbed of personal data."""
        body: dict[str, Any] = {
            "project": self.project,
            "environment": self.environment,
            "exception_type": type(exc).__name__,
            "message": scrub_text(str(exc))[:10_000],
            "traceback": scrub_text("".join(traceback.format_exception(exc))),
        }
        extra: dict[str, Any] = {}
        if request is not None:
            path = request.url.path
            query = request.url.query
            body["request_url"] = scrub_text(path + ("?" + query if query else ""))
            body["request_method"] = request.method
            body["request_headers"] = scrub(drop_headers(dict(request.headers)))
            user_id = getattr(request.state, "user_id", None)
            if user_id is not None:
                body["user_id"] = str(user_id)
            route = request.scope.get("route")
            if route is not None and hasattr(route, "path"):
                extra["route"] = route.path
            extra.update(request.path_params)
        if extra:
            body["extra"] = scrub(extra)
        return body

    async def report(self, request: Request | None, exc: BaseException) -> None:
        """Schedule the report and return at once; never raises."""
        try:
            body = self.payload(request, exc)
            task = asyncio.get_running_loop().create_task(self._send(body))
        except Exception:  # a report must never turn into a second failure
            log.warning("could not build an error report", exc_info=True)
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, body: dict[str, Any]) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.endpoint, json=body, headers=self.headers)
            if response.status_code >= 300:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        except Exception as exc:
            self.failed += 1
            self._warn(f"error tracker unreachable at {self.endpoint}: {exc!r}; report dropped")
        else:
            self.sent += 1

    async def drain(self) -> None:
        """Wait for reports in flight (shutdown, tests); each is bounded by its timeout."""
        if self._tasks:
            await asyncio.wait(list(self._tasks))


_default: ErrorClient | None = None


def configure(settings: MonitoringSettings) -> ErrorClient | None:
    """Make the module-level client from settings; None when ERROR_TRACKER_URL is unset."""
    global _default
    if not settings.error_tracker_url:
        _default = None
        return None
    _default = ErrorClient(
        settings.error_tracker_url,
        secret(settings.error_tracker_api_key),
        project=settings.error_tracker_project,
        environment=settings.sentry_environment,
    )
    return _default


def default_client() -> ErrorClient | None:
    return _default


async def report_error(request: Request | None, exception: BaseException) -> None:
    """SPEC §7.2.1: send ``exception`` (with the request's context) to the error tracker."""
    if _default is not None:
        await _default.report(request, exception)


async def unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    """SPEC §7.2.2: report, log locally as before, answer 500 without internals."""
    if not sdk_reporting():
        await report_error(request, exc)
    route = request.scope.get("route")
    where = getattr(route, "path", None) or request.url.path
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, where, exc_info=exc)
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)


def install_exception_handler(app: FastAPI) -> None:
    """HTTPException and RequestValidationError keep FastAPI's own handlers (not reported)."""
    app.add_exception_handler(Exception, unhandled_exception_handler)
