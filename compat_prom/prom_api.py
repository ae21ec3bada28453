"""Prometheus query API (``/api/v1/query`` ...) for Grafana's Prometheus data source and promtool.

The contract is ``shared/contracts/grafana-prometheus.md``: GET and form POST (parameters
merged from URL and body), 405 to POST on the paths Prometheus serves GET-only (Grafana and
promtool then retry as GET), the ``{"status":"error","errorType","error"}`` envelope with
Prometheus' status codes. Every route needs the API key (``X-API-Key``, bearer, or the
basic-auth password): Grafana sends it as a custom header or as basic auth.

Evaluation is CPU work in Python, so it runs in a worker thread, on a read connection
whose statement time limit equals the query's timeout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from compat_prom import store
from compat_prom.query import api_calls
from compat_prom.query.api_calls import Params, QueryOptions
from compat_prom.query.jsonfmt import envelope
from core.app import json_error
from core.deps import ApiKey, Body, Ctx
from core.errors import BadRequest

router = APIRouter(tags=["prometheus"], dependencies=[ApiKey])

JSON = "application/json"
# A Prometheus-like version: Grafana enables its Prometheus >= 2.x features from it.
BUILD_INFO = {
    "version": "2.53.0",
    "revision": "flowmon",
    "branch": "flowmon",
    "buildUser": "flowmon",
    "buildDate": "20251126-00:00:00",
    "goVersion": "python",
}
ERROR_TYPES = {
    400: "bad_data",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "bad_data",
    422: "execution",
    429: "unavailable",
    500: "internal",
    503: "timeout",
}


def is_prom_path(path: str) -> bool:
    return path.startswith("/api/v1/") and path != "/api/v1/write"


def render_error(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    """Prometheus' error envelope on the query API; the default renderer elsewhere."""
    if not is_prom_path(request.url.path):
        return json_error(request, status, message, headers)
    kind = ERROR_TYPES.get(status, "internal")
    if status == 503 and "timed out" not in message and "timeout" not in message:
        kind = "unavailable"
    body = {"status": "error", "errorType": kind, "error": message}
    return JSONResponse(body, status_code=status, headers=headers)


async def _params(request: Request, body: bytes) -> Params:
    pairs = parse_qsl(request.url.query, keep_blank_values=True)
    if request.method == "POST" and body:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/x-www-form-urlencoded", ""):
            raise BadRequest(
                f"unsupported Content-Type {ctype!r}; "
                "send a form (application/x-www-form-urlencoded)"
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("form body is not UTF-8") from None
        pairs = parse_qsl(text, keep_blank_values=True) + pairs
    return Params(pairs)


def _options(ctx: Any) -> QueryOptions:
    return QueryOptions(max_timeout_s=float(ctx.settings.query_timeout))


async def _read(ctx: Any, fn: Callable[[store.StoreReader], str]) -> Response:
    def work() -> str:
        with ctx.db.read() as conn:
            return fn(store.StoreReader(conn))

    text = await anyio.to_thread.run_sync(work)
    return Response(text, media_type=JSON)


def _now_ms() -> int:
    return int(time.time() * 1000)


@router.api_route("/api/v1/query", methods=["GET", "POST"])
async def query(request: Request, body: Body, ctx: Ctx) -> Response:
    p = await _params(request, body)
    opts = _options(ctx)
    return await _read(ctx, lambda r: api_calls.instant_query(r, p, _now_ms(), opts))


@router.api_route("/api/v1/query_range", methods=["GET", "POST"])
async def query_range(request: Request, body: Body, ctx: Ctx) -> Response:
    p = await _params(request, body)
    opts = _options(ctx)
    return await _read(ctx, lambda r: api_calls.range_query(r, p, opts))


@router.api_route("/api/v1/series", methods=["GET", "POST"])
async def series(request: Request, body: Body, ctx: Ctx) -> Response:
    p = await _params(request, body)
    return await _read(ctx, lambda r: api_calls.series(r, p, _now_ms()))


@router.api_route("/api/v1/labels", methods=["GET", "POST"])
async def labels(request: Request, body: Body, ctx: Ctx) -> Response:
    p = await _params(request, body)
    return await _read(ctx, lambda r: api_calls.label_names(r, p, _now_ms()))


@router.get("/api/v1/label/{name}/values")
async def label_values(name: str, request: Request, ctx: Ctx) -> Response:
    p = await _params(request, b"")
    return await _read(ctx, lambda r: api_calls.label_values(r, name, p, _now_ms()))


@router.get("/api/v1/metadata")
async def metadata(request: Request, ctx: Ctx) -> Response:
    p = await _params(request, b"")
    metric = p.get("metric") or None
    limit_text = p.get("limit")
    try:
        limit = int(limit_text) if limit_text else None
    except ValueError:
        raise BadRequest('invalid parameter "limit": must be an integer') from None

    def work() -> str:
        with ctx.db.read() as conn:
            data = store.metadata(conn, metric=metric, limit=limit if limit and limit > 0 else None)
        return envelope(json.dumps(data, ensure_ascii=False), [], [])

    return Response(await anyio.to_thread.run_sync(work), media_type=JSON)


@router.api_route("/api/v1/query_exemplars", methods=["GET", "POST"])
async def query_exemplars(request: Request, body: Body) -> Response:
    # No exemplars are stored; Grafana's probe (times in ms) only needs a success.
    await _params(request, body)
    return Response(envelope("[]", [], []), media_type=JSON)


@router.get("/api/v1/rules")
async def rules() -> Response:
    return Response(envelope('{"groups":[]}', [], []), media_type=JSON)


@router.get("/api/v1/alerts")
async def alerts() -> Response:
    return Response(envelope('{"alerts":[]}', [], []), media_type=JSON)


@router.get("/api/v1/status/buildinfo")
async def buildinfo() -> Response:
    return Response(envelope(json.dumps(BUILD_INFO), [], []), media_type=JSON)


@router.api_route("/api/v1/format_query", methods=["GET", "POST"])
async def format_query(request: Request, body: Body) -> Response:
    p = await _params(request, body)
    return Response(api_calls.format_query(p), media_type=JSON)


@router.api_route("/api/v1/parse_query", methods=["GET", "POST"])
async def parse_query(request: Request, body: Body) -> Response:
    p = await _params(request, body)
    return Response(api_calls.parse_query(p), media_type=JSON)
