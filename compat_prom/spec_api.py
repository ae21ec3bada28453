"""SPEC §6.5.2-§6.5.4 query routes and ``GET /metrics`` (the scrape / federate endpoint)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from compat_prom import store, views
from compat_prom.protocol import exposition
from compat_prom.protocol.selector import parse_selector
from core.deps import ApiKey, Ctx

router = APIRouter(tags=["query"])
LOOKBACK_MS = 5 * 60_000  # like /federate: series without a sample for 5 min are gone


def _now() -> int:
    return int(time.time() * 1000)


@router.get("/api/metrics", dependencies=[ApiKey])
def get_metrics(
    ctx: Ctx,
    name: str,
    period: str = "24h",
    resolution: str = "auto",
    labels: str | None = None,
) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return views.metrics_query(conn, name, period, resolution, labels, _now())


@router.get("/api/metrics/names", dependencies=[ApiKey])
def get_names(ctx: Ctx) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return views.metric_names(conn)


@router.get("/api/dashboard", dependencies=[ApiKey])
def get_dashboard(ctx: Ctx, period: str = "24h") -> dict[str, Any]:
    with ctx.db.read() as conn:
        return views.dashboard(conn, period, _now())


@router.get("/metrics", dependencies=[ApiKey])
def scrape(
    request: Request, ctx: Ctx, match: Annotated[list[str] | None, Query(alias="match[]")] = None
) -> Response:
    matcher_sets = [parse_selector(m) for m in match or []]
    openmetrics = exposition.wants_openmetrics(request.headers.get("accept"))
    own = ctx.metrics.exposition(openmetrics=openmetrics).decode()
    with ctx.db.read() as conn:
        helps = {name: e[0]["help"] for name, e in store.metadata(conn).items() if e[0]["help"]}
        latest = list(store.iter_latest(conn, matcher_sets, _now() - LOOKBACK_MS))
    body = exposition.render(
        latest, helps, openmetrics=openmetrics, skip_names=exposition.family_names(own)
    )
    if not match:
        body += own  # the OpenMetrics form ends with "# EOF"
    elif openmetrics:
        body += "# EOF\n"
    media = exposition.OPENMETRICS_TYPE if openmetrics else exposition.TEXT_TYPE
    return Response(body, media_type=media)
