"""Sentry ingest routes: ``/api/<project_id>/envelope/`` and ``/store/``, with CORS.

Browser SDKs post cross-origin, so every answer on these paths (errors included, see
``render_error`` in service.py) carries the CORS headers Relay sends, and ``OPTIONS``
preflights are answered without auth.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from compat_sentry.api import ingestor
from core.deps import Body

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


@router.post("/api/{project_id}/envelope/")
@router.post("/api/{project_id}/envelope", include_in_schema=False)
async def envelope(request: Request, project_id: int, body: Body) -> JSONResponse:
    event_id = await ingestor(request).envelope(
        project_id, request.headers, request.query_params, body
    )
    return JSONResponse({"id": event_id} if event_id else {}, headers=CORS_HEADERS)


@router.post("/api/{project_id}/store/")
@router.post("/api/{project_id}/store", include_in_schema=False)
async def store(request: Request, project_id: int, body: Body) -> JSONResponse:
    event_id = await ingestor(request).store_endpoint(
        project_id, request.headers, request.query_params, body
    )
    return JSONResponse({"id": event_id}, headers=CORS_HEADERS)


@router.options("/api/{project_id}/envelope/")
@router.options("/api/{project_id}/store/")
@router.options("/api/{project_id}/envelope")
@router.options("/api/{project_id}/store")
def preflight(project_id: int) -> Response:
    return Response(status_code=200, headers=CORS_HEADERS)
