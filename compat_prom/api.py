"""Ingest routes: Prometheus remote-write (1.0 and 2.0) and SPEC §6.5.1 native POST."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from compat_prom import ingest
from core.deps import ApiKey, Body, Ctx
from core.errors import BadRequest
from core.http import decode_stream, snappy_block_decode

router = APIRouter()


async def _snappy_body(request: Request, ctx: Ctx) -> bytes:
    """Remote-write bodies are snappy block format whether or not Content-Encoding says so
    (Prometheus always sends ``snappy``; the contract's "no Content-Encoding" case too)."""
    header = request.headers.get("content-encoding", "")
    encodings = [e for e in (p.strip().lower() for p in header.split(",")) if e and e != "snappy"]
    settings = ctx.settings
    data = await decode_stream(
        request.stream(),
        encodings,
        max_bytes=settings.max_body_bytes,
        max_decoded=settings.max_decompressed_bytes,
    )
    return snappy_block_decode(data, settings.max_decompressed_bytes)


@router.post("/api/v1/write", status_code=204, dependencies=[ApiKey], tags=["ingest"])
async def remote_write(request: Request, ctx: Ctx) -> Response:
    raw = await _snappy_body(request, ctx)
    result = await ingest.remote_write_body(ctx, raw, request.headers.get("content-type"))
    headers = {
        "X-Prometheus-Remote-Write-Samples-Written": str(result.samples),
        "X-Prometheus-Remote-Write-Histograms-Written": "0",
        "X-Prometheus-Remote-Write-Exemplars-Written": "0",
    }
    if result.rejected:
        raise BadRequest(
            f"{len(result.rejected)} series rejected, {result.samples} samples of the others"
            f" stored; first: {result.rejected[0]}",
            headers=headers,
        )
    return Response(status_code=204, headers=headers)


@router.post("/api/metrics", status_code=202, dependencies=[ApiKey], tags=["ingest"])
async def native_metrics(body: Body, ctx: Ctx) -> Any:
    result = await ingest.native_post(ctx, body, int(time.time() * 1000))
    return JSONResponse(result, status_code=202)
