"""Web pages of the error tracker (SPEC ET-040..044): group list and group detail.

Server-rendered with Jinja2 (autoescaping on: messages, frames and request data are all
attacker-controlled text) and HTMX for resolve/reopen. Filters live in the query string,
so a filtered list is a link one can share. The resolve/reopen endpoints answer HTMX
requests only (``HX-Request`` header): a cross-site form cannot set that header, which
keeps a third-party page from resolving errors through a logged-in browser.
Jinja2 is imported on the first page view (``_templates``), not at start-up (~2 MB RSS).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse

from compat_sentry import eventview, store
from compat_sentry.ingest import event_json
from core.deps import Ctx, UiLogin
from core.errors import BadRequest, NotFound
from core.ui.lazy import LazyTemplates

router = APIRouter(tags=["ui"], dependencies=[UiLogin])

PAGE_SIZE = 25
# Bounded so no value reaches SQLite as an integer it cannot hold (that would be a 500).
ErrorId = Annotated[int, PathParam(ge=0, le=2**62)]
Small = Annotated[int, Query(ge=0, le=10**7)]
HOURS = 24
STATUSES = {"unresolved": False, "resolved": True, "all": None}


templates = LazyTemplates(Path(__file__).parent / "templates")


def _page(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    context["root_path"] = request.scope.get("root_path", "")
    response: HTMLResponse = templates.TemplateResponse(request, name, context)
    return response


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/errors", status_code=307)


@router.get("/errors", response_class=HTMLResponse, include_in_schema=False)
def list_page(
    request: Request,
    ctx: Ctx,
    project: str = "",
    environment: str = "",
    status: str = "unresolved",
    q: str = "",
    sort: str = "last_seen",
    page: Small = 1,
) -> HTMLResponse:
    status = status if status in STATUSES else "unresolved"
    sort = sort if sort in ("last_seen", "count") else "last_seen"
    page = max(page, 1)
    f = store.GroupFilter(
        project or None,
        environment or None,
        STATUSES[status],
        q or None,
        sort,
        PAGE_SIZE,
        (page - 1) * PAGE_SIZE,
    )
    first_hour = int(time.time() // 3600) - HOURS + 1
    with ctx.db.read() as conn:
        rows, total = store.list_groups(conn, f)
        hours = store.hourly_counts(conn, [r["id"] for r in rows], first_hour, HOURS)
        projects = store.project_names(conn)
        environments = store.environments(conn)
    for row in rows:
        row["spark"] = eventview.sparkline(hours[row["id"]])
        row["last_24h"] = sum(hours[row["id"]])
    filters = {"project": project, "environment": environment, "status": status, "q": q}
    filters["sort"] = sort

    def link(**changes: Any) -> str:
        params = {**filters, "page": page, **changes}
        return "/errors?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})

    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return _page(
        request,
        "errors.html",
        {
            "rows": rows,
            "total": total,
            "filters": filters,
            "projects": projects,
            "environments": environments,
            "page": page,
            "pages": pages,
            "link": link,
        },
    )


@router.get("/errors/{error_id}", response_class=HTMLResponse, include_in_schema=False)
def detail_page(request: Request, ctx: Ctx, error_id: ErrorId, event: Small = 0) -> HTMLResponse:
    keep = ctx.extra["ingest"].settings.events_per_group
    event = min(max(event, 0), keep - 1)
    with ctx.db.read() as conn:
        group = store.get_group(conn, error_id)
        if group is None:
            raise NotFound(f"error {error_id} not found")
        stored = min(store.count_events(conn, error_id), keep)
        events = store.list_events(conn, error_id, 1, event)
    shown = None
    if events:
        e = events[0]
        shown = eventview.view(event_json(e.data), e.event_id.hex(), store.iso(e.received))
    return _page(
        request,
        "error.html",
        {"group": group, "event": shown, "index": event, "stored": stored},
    )


def _require_htmx(request: Request) -> None:
    if request.headers.get("hx-request") != "true":
        raise BadRequest("this endpoint answers the page's buttons (HX-Request) only")


@router.post("/errors/{error_id}/resolve", response_class=HTMLResponse, include_in_schema=False)
async def resolve_button(request: Request, ctx: Ctx, error_id: ErrorId) -> HTMLResponse:
    _require_htmx(request)
    now = time.time()
    if not await ctx.writer.run(lambda conn: store.resolve(conn, error_id, now)):
        raise NotFound(f"error {error_id} not found")
    return _status(request, ctx, error_id)


@router.post("/errors/{error_id}/reopen", response_class=HTMLResponse, include_in_schema=False)
async def reopen_button(request: Request, ctx: Ctx, error_id: ErrorId) -> HTMLResponse:
    _require_htmx(request)
    if not await ctx.writer.run(lambda conn: store.reopen(conn, error_id)):
        raise NotFound(f"error {error_id} not found")
    return _status(request, ctx, error_id)


def _status(request: Request, ctx: Ctx, error_id: int) -> HTMLResponse:
    with ctx.db.read() as conn:
        group = store.get_group(conn, error_id)
    return _page(request, "_status.html", {"group": group})
