"""Sentry ingest routes: ``/api/<project_id>/envelope/`` and ``/store/``, with CORS.

Plain Starlette routes rather than FastAPI endpoints: this is the hot path, and FastAPI's
dependency solving and response handling cost more per request than the envelope parse
(bench/errors.py). The route still does only the four things of CONVENTIONS §2: auth is in
``Ingestor``, the capped body comes from ``core.deps.capped_body``, one ingest call, and
the response. Errors propagate as ``core.errors`` and are rendered by ``render_error``.

Browser SDKs post cross-origin, so every answer on these paths (errors included, see
``render_error`` in service.py) carries the CORS headers Relay sends, and ``OPTIONS``
preflights are answered without auth.
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from compat_sentry.ingest import Ingestor
from core.deps import capped_body

router = APIRouter(tags=["sentry"])

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": (
        "x-sentry-auth, x-requested-with, origin, accept, content-type, authentication, "
        "authorization, content-encoding, sentry-trace, baggage"
    ),
    "Access-Control-Expose-Headers": "x-sentry-error, x-sentry-rate-limits, retry-after",
    "Access-Control-Max-Age": "3600",
}


def is_sentry_path(path: str) -> bool:
    parts = path.strip("/").split("/")
    return len(parts) == 3 and parts[0] == "api" and parts[2] in ("envelope", "store")


def _ingestor(request: Request) -> Ingestor:
    found: Ingestor = request.app.state.ctx.extra["ingest"]
    return found


def _answer(event_id: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"id": event_id} if event_id else {}).encode()
    merged = {**CORS_HEADERS, **headers} if headers else CORS_HEADERS
    return Response(body, media_type="application/json", headers=merged)


async def envelope(request: Request) -> Response:
    body = await capped_body(request)
    event_id, headers = await _ingestor(request).envelope(
        request.path_params["project_id"], request.headers, request.query_params, body
    )
    return _answer(event_id, headers)


async def store(request: Request) -> Response:
    body = await capped_body(request)
    event_id = await _ingestor(request).store_endpoint(
        request.path_params["project_id"], request.headers, request.query_params, body
    )
    return _answer(event_id)


async def preflight(request: Request) -> Response:
    return Response(status_code=200, headers=CORS_HEADERS)


for _suffix in ("", "/"):
    router.add_route(f"/api/{{project_id:int}}/envelope{_suffix}", envelope, methods=["POST"])
    router.add_route(f"/api/{{project_id:int}}/store{_suffix}", store, methods=["POST"])
    for _name in ("envelope", "store"):
        router.add_route(f"/api/{{project_id:int}}/{_name}{_suffix}", preflight, ["OPTIONS"])
