"""``init_sentry``: the stock sentry-sdk pointed at the error tracker, with SPEC §10.3 scrubbing.

FlowRent reports through the unmodified ``sentry_sdk`` (DESIGN §6), so the tracker gets
structured stack traces, request context and breadcrumbs, and FlowRent could move to a
hosted Sentry by changing one DSN. What we add is policy:

* ``before_send`` (and ``before_send_transaction``) scrub every event with
  ``flowrent_patch.scrub``: credential headers dropped, cookies and the user's
  e-mail / IP / username removed (only ``user.id`` stays), e-mails, phone numbers and
  street addresses stripped from messages, exception values, request data, breadcrumbs,
  extra, tags, contexts and local variables;
* HTTPException (any status) and RequestValidationError are never reported (SPEC §7.2.2):
  they are intentional answers, not bugs. The integrations get an empty
  ``failed_request_status_codes`` and ``before_send`` drops them if they arrive by another
  path (``logger.exception`` on one, say);
* breadcrumbs of the stack's own HTTP traffic (metric flushes, native error reports) are
  dropped, so every event does not carry a trail of ``POST /api/metrics``.
"""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk
from fastapi.exceptions import RequestValidationError
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from starlette.exceptions import HTTPException

from flowrent_patch.scrub import drop_headers, scrub
from flowrent_patch.settings import MonitoringSettings

NOT_REPORTED: tuple[type[BaseException], ...] = (HTTPException, RequestValidationError)
USER_KEYS_KEPT = frozenset({"id"})

log = logging.getLogger(__name__)


def scrub_event(event: dict[str, Any]) -> dict[str, Any]:
    """SPEC §10.3 applied to one Sentry event (a new dict; the SDK's is not mutated)."""
    request = event.get("request")
    if isinstance(request, dict):
        request = dict(request)
        request.pop("cookies", None)
        request.pop("env", None)  # REMOTE_ADDR: the customer's IP is personal data
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = drop_headers(headers)
        event = {**event, "request": request}
    user = event.get("user")
    if isinstance(user, dict):
        event = {**event, "user": {k: v for k, v in user.items() if k in USER_KEYS_KEPT}}
    scrubbed: dict[str, Any] = scrub(event)
    return scrubbed


def _not_reported(hint: dict[str, Any]) -> bool:
    exc_info = hint.get("exc_info")
    return exc_info is not None and isinstance(exc_info[1], NOT_REPORTED)


def make_before_send() -> Any:
    def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        if _not_reported(hint):
            return None
        return scrub_event(event)

    return before_send


def make_before_breadcrumb(own_urls: tuple[str, ...]) -> Any:
    def before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        url = (crumb.get("data") or {}).get("url")
        if own_urls and isinstance(url, str) and url.startswith(own_urls):
            return None
        return crumb

    return before_breadcrumb


def init_sentry(
    settings: MonitoringSettings, *, release: str | None = None, **options: Any
) -> bool:
    """Initialise the stock SDK from ``settings``; False (and nothing done) without a DSN.

    ``options`` go to ``sentry_sdk.init`` unchanged (``shutdown_timeout``...), except
    ``send_default_pii``, which stays at the SDK's default (off) whatever is passed.
    """
    if not settings.sentry_dsn:
        return False
    own = tuple(
        u.rstrip("/") for u in (settings.error_tracker_url, settings.metrics_collector_url) if u
    )
    options.pop("send_default_pii", None)
    options.pop("auto_session_tracking", None)
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment,
        release=release or settings.sentry_release,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        before_send=make_before_send(),
        before_send_transaction=make_before_send(),
        before_breadcrumb=make_before_breadcrumb(own),
        # Per-request release-health sessions: nothing in flowmon reads them (the tracker
        # counts and drops session items), and tracking them is ~5% of the SDK's cost.
        auto_session_tracking=False,
        integrations=[
            StarletteIntegration(failed_request_status_codes=set(), middleware_spans=False),
            FastApiIntegration(failed_request_status_codes=set(), middleware_spans=False),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        **options,
    )
    log.info(
        "sentry sdk reporting to the error tracker (environment %s)", settings.sentry_environment
    )
    return True


def sdk_reporting() -> bool:
    """True when an SDK client with a DSN is set up (``init()`` without one still counts
    as "active" in the SDK, but sends nothing)."""
    client = sentry_sdk.get_client()
    return client.is_active() and bool(client.dsn)


def current_trace_id() -> str | None:
    """Trace id of the current request's Sentry scope, or None when the SDK is off."""
    if not sdk_reporting():
        return None
    traceparent = sentry_sdk.get_traceparent()
    if not traceparent:
        return None
    return traceparent.split("-", 1)[0] or None
