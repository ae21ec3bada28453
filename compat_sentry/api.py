"""SPEC §4.4 native API: thin routes (auth, params, one call, response shape)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from compat_sentry import store
from compat_sentry.ingest import Ingestor, event_json
from core.deps import ApiKey, Body, Ctx
from core.errors import NotFound

router = APIRouter(dependencies=[ApiKey], tags=["errors"])

# SQLite integers are 64-bit: a larger id or offset would be an OverflowError (a 500), so
# the bounds turn it into a 400 up front.
ErrorId = Annotated[int, Path(ge=0, le=2**62)]
Offset = Annotated[int, Query(ge=0, le=10**9)]

LIST_KEYS = (
    "id",
    "fingerprint",
    "project",
    "environment",
    "exception_type",
    "message",
    "request_url",
    "count",
    "first_seen",
    "last_seen",
    "resolved",
)
DETAIL_KEYS = (
    *LIST_KEYS[:6],
    "traceback",
    "request_url",
    "request_method",
    "request_headers",
    "user_id",
    "extra",
    *LIST_KEYS[7:],
    "resolved_at",
)


def ingestor(request: Request) -> Ingestor:
    found: Ingestor = request.app.state.ctx.extra["ingest"]
    return found


@router.post("/api/errors")
async def post_error(request: Request, body: Body) -> JSONResponse:
    result = await ingestor(request).native(body)
    stored = result.stored
    if stored.created:
        content = {
            "status": "created",
            "id": stored.group_id,
            "fingerprint": result.record.fingerprint,
        }
        return JSONResponse(content, status_code=201)
    return JSONResponse({"status": "incremented", "id": stored.group_id, "count": stored.count})


@router.get("/api/errors")
def list_errors(
    ctx: Ctx,
    project: str | None = None,
    environment: str | None = None,
    resolved: bool = False,
    limit: Annotated[int, Query(ge=1, le=10**9)] = 50,
    offset: Offset = 0,
    q: str | None = None,
    sort: str = "last_seen",
) -> dict[str, Any]:
    limit = min(limit, 200)
    f = store.GroupFilter(project, environment, resolved, q, sort, limit, offset)
    with ctx.db.read() as conn:
        rows, total = store.list_groups(conn, f)
    errors = [{k: row[k] for k in LIST_KEYS} for row in rows]
    return {"errors": errors, "total": total, "limit": limit, "offset": offset}


def _group(ctx: Ctx, error_id: ErrorId) -> dict[str, Any]:
    with ctx.db.read() as conn:
        group = store.get_group(conn, error_id)
    if group is None:
        raise NotFound(f"error {error_id} not found")
    return group


@router.get("/api/errors/{error_id}")
def get_error(ctx: Ctx, error_id: ErrorId) -> dict[str, Any]:
    group = _group(ctx, error_id)
    return {k: group[k] for k in DETAIL_KEYS}


@router.get("/api/errors/{error_id}/events")
def get_events(
    request: Request,
    ctx: Ctx,
    error_id: ErrorId,
    limit: Annotated[int, Query(ge=1, le=10**9)] = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    _group(ctx, error_id)
    settings_keep = ingestor(request).settings.events_per_group
    limit = min(limit, settings_keep)
    with ctx.db.read() as conn:
        total = min(store.count_events(conn, error_id), settings_keep)
        events = store.list_events(
            conn, error_id, min(limit, max(settings_keep - offset, 0)), offset
        )
    return {
        "events": [
            {
                "event_id": e.event_id.hex(),
                "received": store.iso(e.received),
                "event": event_json(e.data),
            }
            for e in events
        ],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.post("/api/errors/{error_id}/resolve")
async def resolve_error(ctx: Ctx, error_id: ErrorId) -> dict[str, Any]:
    now = time.time()
    if not await ctx.writer.run(lambda conn: store.resolve(conn, error_id, now)):
        raise NotFound(f"error {error_id} not found")
    return {"status": "resolved", "id": error_id}


@router.post("/api/errors/{error_id}/reopen")
async def reopen_error(ctx: Ctx, error_id: ErrorId) -> dict[str, Any]:
    if not await ctx.writer.run(lambda conn: store.reopen(conn, error_id)):
        raise NotFound(f"error {error_id} not found")
    return {"status": "reopened", "id": error_id}


@router.get("/api/projects")
def list_project_names(ctx: Ctx) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return {"projects": store.project_names(conn)}
