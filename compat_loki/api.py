"""HTTP routes of the log store: SPEC §5.5 native API, SSE live tail, Loki push.

Routes only parse, delegate and shape. Reads run in a worker thread (``_read``) so a slow
query never holds the event loop. The native read API is open like SPEC §10.1 says
("read-only, internal network"), behind the optional UI login; push needs the API key
(``X-API-Key``, bearer, or the basic-auth password Promtail and logging clients send).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from compat_loki import ingest, store
from compat_loki.docker import rebuild_raw
from compat_loki.levels import normalize
from compat_loki.live import Notifier
from compat_loki.store import LogFilter, LogRow
from core.context import ServiceContext
from core.deps import ApiKey, Ctx, UiLogin
from core.errors import BadRequest, PayloadTooLarge
from core.http import decode_stream
from core.timeparse import parse_duration_ms, parse_time_ns

router = APIRouter(tags=["logs"])
T = TypeVar("T")

MAX_LIMIT = 500
TAIL_BATCH = 500
KEEPALIVE_SECONDS = 15.0
_PUSH_ENCODINGS = {"gzip", "x-gzip", "deflate", "identity"}


async def _read(ctx: ServiceContext, fn: Callable[[Any], T]) -> T:
    def run() -> T:
        with ctx.db.read() as conn:
            return fn(conn)

    return await asyncio.to_thread(run)


def iso(ts_ns: int) -> str:
    """RFC 3339 with microseconds: what ``datetime.fromisoformat`` and JS ``Date`` read."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos // 1000:06d}Z"


def row_json(row: LogRow) -> dict[str, Any]:
    labels = dict(row.labels.items_tuple)
    raw = row.raw
    if raw == "":  # a Docker line the tailer checked can be rebuilt exactly
        raw = rebuild_raw(row.line, labels.get("stream", "stdout"), row.ts_ns)
    return {
        "id": row.id,
        "timestamp": iso(row.ts_ns),
        "ts_ns": str(row.ts_ns),
        "container": store.source_name(row.labels),
        "stream": labels.get("stream", ""),
        "level": normalize(labels.get("level")) or labels.get("level", "").upper(),
        "message": row.line,
        "labels": labels,
        "metadata": dict(row.metadata),
        "raw": raw,
    }


_AGO = re.compile(r"(?:\d+(?:ms|[smhdwy]))+")


def parse_when(text: str | None, name: str) -> int | None:
    """ISO 8601 / RFC 3339, unix seconds or ns, or a duration back from now (``1h``)."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    if _AGO.fullmatch(value):
        return time.time_ns() - parse_duration_ms(value) * 1_000_000
    try:
        return parse_time_ns(value)
    except BadRequest:
        raise BadRequest(f"{name}: not an ISO 8601 time: {text!r}") from None


async def log_filter(
    container: str | None = None,
    level: str | None = None,
    search: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> LogFilter:
    return LogFilter(
        container=container or None,
        level=level or None,
        search=search or None,
        since_ns=parse_when(since, "since"),
        until_ns=parse_when(until, "until"),
    )


Filter = Annotated[LogFilter, Depends(log_filter)]


@router.get("/api/logs", dependencies=[UiLogin])
async def get_logs(
    ctx: Ctx,
    f: Filter,
    limit: Annotated[int, Query()] = 100,
    offset: Annotated[int, Query()] = 0,
) -> dict[str, Any]:
    limit = min(max(limit, 1), MAX_LIMIT)
    offset = max(offset, 0)
    rows, total = await _read(ctx, lambda c: store.query_logs(c, f, limit=limit, offset=offset))
    return {"logs": [row_json(r) for r in rows], "total": total, "limit": limit, "offset": offset}


def _after(after: int, f: LogFilter, conn: Any) -> tuple[list[LogRow], int, bool]:
    return store.logs_after(conn, after, f, TAIL_BATCH)


@router.get("/api/logs/tail", dependencies=[UiLogin])
async def tail_logs(request: Request, ctx: Ctx, f: Filter) -> StreamingResponse:
    """SSE (SPEC §5.5.2): ``event: log``, ``id:`` = entry id, resumes from Last-Event-ID."""
    resume = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    try:
        after = int(resume) if resume else None
    except ValueError:
        raise BadRequest("Last-Event-ID must be an entry id") from None
    if after is None:
        after = await _read(ctx, store.last_id)
    notifier: Notifier = ctx.extra["notifier"]

    async def events() -> AsyncIterator[str]:
        nonlocal after
        yield "retry: 1000\n\n"
        while True:
            seen = notifier.version
            rows, after, more = await _read(ctx, functools.partial(_after, after or 0, f))
            for row in rows:
                yield f"id: {row.id}\nevent: log\ndata: {json.dumps(row_json(row))}\n\n"
            if more:
                continue
            if await request.is_disconnected():
                return
            if not await notifier.wait(seen, within=KEEPALIVE_SECONDS):
                yield ": keepalive\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.get("/api/containers", dependencies=[UiLogin])
async def get_containers(ctx: Ctx) -> dict[str, Any]:
    counts = await _read(ctx, lambda c: store.counts_by(c, "container"))
    tailer = ctx.extra.get("tailer")
    watched = set(tailer.stats.containers.values()) if tailer is not None else set()
    names = sorted(set(counts) | watched)
    return {"containers": [{"name": n, "log_count": counts.get(n, 0)} for n in names if n]}


def _stats(conn: Any) -> dict[str, Any]:
    oldest, newest = store.entry_span(conn)
    return {
        "total_logs": store.count_entries(conn),
        "oldest_log": iso(oldest) if oldest is not None else None,
        "newest_log": iso(newest) if newest is not None else None,
        "by_level": store.counts_by(conn, "level"),
        "by_container": store.counts_by(conn, "container"),
    }


@router.get("/api/stats", dependencies=[UiLogin])
async def get_stats(ctx: Ctx) -> dict[str, Any]:
    return await _read(ctx, _stats)


async def push_body(request: Request) -> bytes:
    """The body with gzip/deflate undone; ``snappy`` is ignored, as Loki does (the
    protobuf body is always snappy and decoded after)."""
    settings = ServiceContext.of(request).settings
    header = request.headers.get("content-encoding", "")
    encodings = [e.strip().lower() for e in header.split(",") if e.strip()]
    encodings = [e for e in encodings if e != "snappy"]
    for enc in encodings:
        if enc not in _PUSH_ENCODINGS:
            raise BadRequest(f'Content-Encoding "{enc}" not supported')
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
        raise PayloadTooLarge(f"request body is larger than {settings.max_body_bytes} bytes")
    return await decode_stream(
        request.stream(),
        encodings,
        max_bytes=settings.max_body_bytes,
        max_decoded=settings.max_decompressed_bytes,
    )


PushBody = Annotated[bytes, Depends(push_body)]


@router.post("/loki/api/v1/push", status_code=204, dependencies=[ApiKey], tags=["loki"])
@router.post("/api/prom/push", status_code=204, dependencies=[ApiKey], tags=["loki"])
async def loki_push(request: Request, ctx: Ctx, body: PushBody) -> Response:
    await ingest.push(ctx, body, request.headers.get("content-type"))
    return Response(status_code=204)
