"""The metrics dashboard page (SPEC §6.2.5, MC-030..035).

Rendered from the same ``views.dashboard`` answer as ``GET /api/dashboard`` (embedded as
JSON, escaped by Jinja's ``tojson``), so page and API cannot disagree and the page needs no
API key in the browser; the pages' own login (UI_USERNAME/UI_PASSWORD) protects it.
"""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from compat_prom import views
from core.deps import Ctx, UiLogin
from core.errors import BadRequest
from core.ui.lazy import LazyTemplates

router = APIRouter(tags=["ui"], dependencies=[UiLogin])
templates = LazyTemplates(Path(__file__).parent / "templates")
PERIODS = ("1h", "24h", "7d")


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=307)


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request, ctx: Ctx, period: str = "1h") -> HTMLResponse:
    if period not in PERIODS:
        raise BadRequest("period must be 1h, 24h or 7d")
    with ctx.db.read() as conn:
        data = views.dashboard(conn, period, int(time.time() * 1000))
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "root_path": request.scope.get("root_path", ""),
            "data": data,
            "period": period,
            "periods": PERIODS,
        },
    )
