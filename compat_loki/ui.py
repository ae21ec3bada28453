"""The log viewer page (SPEC §5.2.4, LV-030..036).

One server-rendered page; the list itself is filled by a small script from the same JSON
API a user can call (``/api/logs``, SSE ``/api/logs/tail``), so the page and the API can
never disagree. The script builds rows with ``textContent`` only: a log line is data,
never markup.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from compat_loki import store
from compat_loki.levels import LEVELS
from core.deps import Ctx, UiLogin
from core.ui.lazy import LazyTemplates

router = APIRouter(tags=["ui"], dependencies=[UiLogin])
templates = LazyTemplates(Path(__file__).parent / "templates")


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse("/logs", status_code=307)


@router.get("/logs", response_class=HTMLResponse, include_in_schema=False)
async def logs_page(request: Request, ctx: Ctx) -> HTMLResponse:
    with ctx.db.read() as conn:
        containers = sorted(n for n in store.counts_by(conn, "container") if n)
    tailer = ctx.extra.get("tailer")
    if tailer is not None:
        containers = sorted(set(containers) | set(tailer.stats.containers.values()))
    errors_url = getattr(ctx.settings, "errors_url", None) or ""
    return templates.TemplateResponse(
        request,
        "logs.html",
        {
            "root_path": request.scope.get("root_path", ""),
            "containers": containers,
            "levels": LEVELS,
            "errors_url": errors_url,
        },
    )
