"""Loki's query HTTP API (``/loki/api/v1/*``), ``/ready`` and the WebSocket tail.

What Grafana's Loki data source sends and reads is pinned in
``../shared/contracts/grafana-loki.md``; each route parses parameters (``query.params``),
runs one engine or metadata call in a worker thread on a read connection, and shapes the
answer (``query.shape``). Errors are ``core.errors`` exceptions, rendered as plain text with
Loki's status codes by the service's ``render_error`` (``/loki/`` paths).

Auth: the service API key as ``X-API-Key``, bearer token or basic-auth password (what a
Grafana data source can send); ``/ready`` is open, like Loki's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse, Response

from compat_loki.query import ast, meta, params, shape
from compat_loki.query.engine import Engine, QueryParams
from compat_loki.query.parser import parse
from compat_loki.query.rangeagg import Deadline
from compat_loki.query.reader import LogReader
from compat_loki.query.results import StreamsResult
from compat_loki.store import StoreReader
from core.auth import key_matches
from core.context import ServiceContext
from core.deps import ApiKey, Ctx
from core.errors import AppError, BadRequest, QueryError

router = APIRouter(tags=["loki"])
T = TypeVar("T")
LOKI_VERSION = "3.4.6"
Opt = Annotated[str | None, Query()]


def _json(body: Any) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Response(text, media_type="application/json; charset=utf-8")


def _read(ctx: ServiceContext, fn: Callable[[LogReader, Deadline], T]) -> T:
    timeout = float(ctx.settings.query_timeout)
    with ctx.db.read() as conn:
        return fn(StoreReader(conn), Deadline(timeout))


def _engine(ctx: ServiceContext, reader: LogReader) -> Engine:
    return Engine(reader, timeout_s=float(ctx.settings.query_timeout))


def _categorize(request: Request) -> bool:
    flags = request.headers.get("x-loki-response-encoding-flags", "")
    return shape.CATEGORIZE in [f.strip() for f in flags.split(",")]


def _log_query(text: str | None) -> ast.LogQuery:
    """A selector (optionally with a pipeline), as ``match[]`` / ``query=`` carry."""
    if not text:
        raise BadRequest("query parameter is required")
    expr = parse(text)
    if not isinstance(expr, ast.LogQuery):
        raise QueryError(f"parse error: {text[:80]!r} is not a log selector")
    return expr


def _now() -> int:
    return time.time_ns()


# ---------------------------------------------------------------------------- queries


@router.get("/loki/api/v1/query_range", dependencies=[ApiKey])
def query_range(
    request: Request,
    ctx: Ctx,
    query: Opt = None,
    start: Opt = None,
    end: Opt = None,
    since: Opt = None,
    step: Opt = None,
    interval: Opt = None,
    limit: Opt = None,
    direction: Opt = None,
) -> Response:
    if not query:
        raise BadRequest("query parameter is required")
    start_ns, end_ns = params.time_range(start, end, since, _now())
    p = QueryParams(
        start_ns,
        end_ns,
        params.step(step, start_ns, end_ns),
        params.direction(direction),
        params.limit(limit),
        _categorize(request),
    )
    expr = parse(query)
    result = _read(ctx, lambda r, _: _engine(ctx, r).range_query(expr, p))
    return _json(shape.success(shape.result_data(result, p.categorize)))


@router.get("/loki/api/v1/query", dependencies=[ApiKey])
def query_instant(
    request: Request,
    ctx: Ctx,
    query: Opt = None,
    time: Opt = None,
    limit: Opt = None,
    direction: Opt = None,
) -> Response:
    if not query:
        raise BadRequest("query parameter is required")
    t_ns = params.time_ns(time, _now(), "time")
    params.limit(limit)
    params.direction(direction)
    expr = parse(query)
    result = _read(ctx, lambda r, _: _engine(ctx, r).instant_query(expr, t_ns))
    return _json(shape.success(shape.result_data(result, _categorize(request))))


# ---------------------------------------------------------------------------- metadata


@router.get("/loki/api/v1/labels", dependencies=[ApiKey])
@router.get("/loki/api/v1/label", dependencies=[ApiKey], include_in_schema=False)
def labels(
    ctx: Ctx, start: Opt = None, end: Opt = None, since: Opt = None, query: Opt = None
) -> Response:
    start_ns, end_ns = params.time_range(start, end, since, _now())
    matchers = _log_query(query).matchers if query else None
    names = _read(ctx, lambda r, _: meta.label_names(r, matchers, start_ns, end_ns))
    return _json(shape.success(names))


@router.get("/loki/api/v1/label/{name}/values", dependencies=[ApiKey])
def label_values(
    ctx: Ctx, name: str, start: Opt = None, end: Opt = None, since: Opt = None, query: Opt = None
) -> Response:
    start_ns, end_ns = params.time_range(start, end, since, _now())
    matchers = _log_query(query).matchers if query else ()
    values = _read(ctx, lambda r, _: r.label_values(name, matchers, start_ns, end_ns))
    return _json(shape.success(values))


@router.get("/loki/api/v1/series", dependencies=[ApiKey])
def series(
    ctx: Ctx,
    start: Opt = None,
    end: Opt = None,
    since: Opt = None,
    match: Annotated[list[str] | None, Query(alias="match[]")] = None,
    match_plain: Annotated[list[str] | None, Query(alias="match")] = None,
) -> Response:
    start_ns, end_ns = params.time_range(start, end, since, _now())
    selectors = [_log_query(m).matchers for m in (match or []) + (match_plain or [])]
    found = _read(ctx, lambda r, _: meta.series(r, selectors, start_ns, end_ns))
    return _json(shape.success(found))


@router.get("/loki/api/v1/index/stats", dependencies=[ApiKey])
def index_stats(ctx: Ctx, query: Opt = None, start: Opt = None, end: Opt = None) -> Response:
    start_ns, end_ns = params.time_range(start, end, None, _now())
    q = _log_query(query)
    return _json(_read(ctx, lambda r, d: meta.index_stats(r, q, start_ns, end_ns, d)))


def _volume_args(
    query: str | None, limit: str | None, target_labels: str | None
) -> tuple[ast.LogQuery, int, list[str]]:
    q = _log_query(query)
    n = params.limit(limit) if limit else 100
    targets = [t.strip() for t in (target_labels or "").split(",") if t.strip()]
    return q, n, meta.volume_labels(q, targets)


@router.get("/loki/api/v1/index/volume", dependencies=[ApiKey])
def index_volume(
    ctx: Ctx,
    query: Opt = None,
    start: Opt = None,
    end: Opt = None,
    limit: Opt = None,
    targetLabels: Opt = None,
) -> Response:
    start_ns, end_ns = params.time_range(start, end, None, _now())
    q, n, by = _volume_args(query, limit, targetLabels)
    vols = _read(ctx, lambda r, d: meta.volume(r, q, start_ns, end_ns, None, by, n, d))
    t = shape.seconds(end_ns)
    result = [
        {"metric": dict(k.items_tuple), "value": [t, str(sum(v.values()))]} for k, v in vols.items()
    ]
    return _json(shape.success({"resultType": "vector", "result": result}))


@router.get("/loki/api/v1/index/volume_range", dependencies=[ApiKey])
def index_volume_range(
    ctx: Ctx,
    query: Opt = None,
    start: Opt = None,
    end: Opt = None,
    step: Opt = None,
    limit: Opt = None,
    targetLabels: Opt = None,
) -> Response:
    start_ns, end_ns = params.time_range(start, end, None, _now())
    step_ns = params.step(step, start_ns, end_ns)
    if (end_ns - start_ns) // step_ns > 11_000:
        raise BadRequest("exceeded maximum resolution of 11,000 points per timeseries")
    q, n, by = _volume_args(query, limit, targetLabels)
    vols = _read(ctx, lambda r, d: meta.volume(r, q, start_ns, end_ns, step_ns, by, n, d))
    result = [
        {
            "metric": dict(k.items_tuple),
            "values": [
                [shape.seconds(start_ns + (b + 1) * step_ns), str(v)]
                for b, v in sorted(buckets.items())
            ],
        }
        for k, buckets in vols.items()
    ]
    return _json(shape.success({"resultType": "matrix", "result": result}))


@router.get("/loki/api/v1/detected_labels", dependencies=[ApiKey])
def detected_labels(ctx: Ctx, query: Opt = None, start: Opt = None, end: Opt = None) -> Response:
    start_ns, end_ns = params.time_range(start, end, None, _now())
    matchers = _log_query(query).matchers if query else None
    found = _read(ctx, lambda r, _: meta.detected_labels(r, matchers, start_ns, end_ns))
    return _json({"detectedLabels": found})


def _field_limits(limit: str | None, line_limit: str | None) -> tuple[int, int]:
    n = params.limit(limit, max_limit=10_000) if limit else 1000
    lines = params.limit(line_limit, max_limit=10_000) if line_limit else 1000
    return n, lines


@router.get("/loki/api/v1/detected_fields", dependencies=[ApiKey])
def detected_fields(
    ctx: Ctx,
    query: Opt = None,
    start: Opt = None,
    end: Opt = None,
    limit: Opt = None,
    line_limit: Opt = None,
) -> Response:
    start_ns, end_ns = params.time_range(start, end, None, _now())
    n, lines = _field_limits(limit, line_limit)
    q = _log_query(query)
    fields = _read(ctx, lambda r, d: meta.sample_fields(r, q, start_ns, end_ns, lines, d))
    return _json({"fields": meta.detected_fields(fields, n), "limit": n})


@router.get("/loki/api/v1/detected_field/{name}/values", dependencies=[ApiKey])
def detected_field_values(
    ctx: Ctx,
    name: str,
    query: Opt = None,
    start: Opt = None,
    end: Opt = None,
    limit: Opt = None,
    line_limit: Opt = None,
) -> Response:
    start_ns, end_ns = params.time_range(start, end, None, _now())
    n, lines = _field_limits(limit, line_limit)
    q = _log_query(query) if query else ast.LogQuery((), ())
    if not q.matchers:
        return _json({"limit": n, "values": []})
    fields = _read(ctx, lambda r, d: meta.sample_fields(r, q, start_ns, end_ns, lines, d))
    found = fields.get(name)
    values = list(found.values)[:n] if found else []
    return _json({"limit": n, "values": values})


@router.get("/loki/api/v1/patterns", dependencies=[ApiKey])
def patterns(query: Opt = None) -> Response:
    """Pattern detection is not implemented: an empty answer keeps Drilldown working."""
    return _json(shape.success([]))


@router.get("/loki/api/v1/status/buildinfo", dependencies=[ApiKey])
def buildinfo() -> Response:
    return _json(
        {
            "version": LOKI_VERSION,
            "revision": "flowmon",
            "branch": "main",
            "buildUser": "flowmon",
            "buildDate": "",
            "goVersion": "",
        }
    )


@router.get("/ready", include_in_schema=False)
def ready() -> Response:
    return PlainTextResponse("ready\n")


# ---------------------------------------------------------------------------- live tail

TAIL_POLL_SECONDS = 0.5
TAIL_LOOKBACK_NS = 30 * 1_000_000_000  # lines may arrive with a timestamp a little in the past
TAIL_MAX_BATCH = 1000


def _tail_batch(ctx: ServiceContext, q: ast.LogQuery, start_ns: int, limit: int) -> StreamsResult:
    """The newest ``limit`` matching lines since ``start_ns``, oldest first per stream.

    Newest first, so a burst larger than ``limit`` between two polls loses its oldest lines
    (as Loki's tail drops entries) instead of stalling on lines already sent.
    """
    p = QueryParams(start_ns, _now() + 3_600 * 10**9, 1, "backward", limit)

    def run(reader: LogReader, _: Deadline) -> StreamsResult:
        result = _engine(ctx, reader).range_query(q, p)
        assert isinstance(result, StreamsResult)
        return StreamsResult([(labels, lines[::-1]) for labels, lines in result.streams])

    return _read(ctx, run)


@router.websocket("/loki/api/v1/tail")
async def tail(websocket: WebSocket) -> None:
    """Loki's live tail: every new matching line, as ``{"streams": [...]}`` messages.

    Lines are found by polling a short trailing window (woken early by the writer's commit
    notifier when the service has one) and de-duplicated by (labels, ts, line).
    """
    ctx = ServiceContext.of(websocket)
    if not key_matches(ctx.settings.api_key_value, websocket.headers):
        await websocket.close(code=1008, reason="Invalid API key")
        return
    await websocket.accept()
    try:
        q = _log_query(websocket.query_params.get("query"))
        limit = params.limit(websocket.query_params.get("limit"))
        start_ns = params.time_ns(
            websocket.query_params.get("start"), _now() - 3_600 * 10**9, "start"
        )
    except AppError as exc:
        await websocket.close(code=1008, reason=exc.message[:120])
        return
    notifier = ctx.extra.get("notifier")
    seen: dict[tuple[Any, int, str], None] = {}
    cursor = start_ns
    first = True
    closed = asyncio.create_task(_until_closed(websocket))
    try:
        while not closed.done():
            window_start = cursor if first else max(start_ns, cursor - TAIL_LOOKBACK_NS)
            version = getattr(notifier, "version", 0)
            batch = await asyncio.to_thread(
                _tail_batch, ctx, q, window_start, limit if first else TAIL_MAX_BATCH
            )
            fresh = _unseen(batch, seen)
            if fresh.streams:
                await websocket.send_text(json.dumps(shape.tail_message(fresh)))
                cursor = max(cursor, *(ln.ts_ns for _, lines in fresh.streams for ln in lines))
            _prune(seen, cursor - TAIL_LOOKBACK_NS)
            first = False
            wait = (
                notifier.wait(version, within=TAIL_POLL_SECONDS * 2)
                if notifier is not None
                else asyncio.sleep(TAIL_POLL_SECONDS)
            )
            waiter = asyncio.ensure_future(wait)
            await asyncio.wait([waiter, closed], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
    except (WebSocketDisconnect, RuntimeError):
        return
    except AppError as exc:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=1011, reason=exc.message[:120])
    finally:
        closed.cancel()


def _unseen(batch: StreamsResult, seen: dict[tuple[Any, int, str], None]) -> StreamsResult:
    streams = []
    for labels, lines in batch.streams:
        fresh = []
        for ln in lines:
            key = (labels, ln.ts_ns, ln.line)
            if key not in seen:
                seen[key] = None
                fresh.append(ln)
        if fresh:
            streams.append((labels, fresh))
    return StreamsResult(streams)


def _prune(seen: dict[tuple[Any, int, str], None], before_ns: int) -> None:
    for key in [k for k in seen if k[1] < before_ns]:
        del seen[key]


async def _until_closed(websocket: WebSocket) -> None:
    """Reads (and ignores) client messages; returns when the client goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
