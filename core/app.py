"""``build_app``: the FastAPI app every service is made from.

It gives each service the same skeleton: migrations run, database and single writer
opened, ``/health``, errors rendered by the service's wire-protocol renderer, request ids
and an access log, self-metrics, background jobs in the lifespan, and a clean shutdown that
drains the writer and checkpoints the WAL.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import memory, migrations
from core.context import ServiceContext
from core.db import Database
from core.errors import AppError
from core.jobs import JobRunner
from core.selfmetrics import SelfMetrics
from core.settings import CommonSettings
from core.writer import Writer

log = logging.getLogger("flowmon.app")

ErrorRenderer = Callable[[Request, int, str, dict[str, str]], Response]
HealthFn = Callable[[ServiceContext], Awaitable[dict[str, Any]] | dict[str, Any]]
Hook = Callable[[ServiceContext], Awaitable[None] | None]


def json_error(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    """Default error shape, FastAPI's (and SPEC §4.4.1's): ``{"detail": "..."}``."""
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


@dataclass
class ServiceSpec:
    """What a service adds to the common skeleton."""

    name: str
    settings: CommonSettings
    migrations_dir: Path
    head_revision: str
    routers: Sequence[APIRouter] = ()
    health: HealthFn | None = None
    render_error: ErrorRenderer = json_error
    on_startup: Sequence[Hook] = ()
    on_shutdown: Sequence[Hook] = ()
    static_dirs: dict[str, Path] = field(default_factory=dict)
    title: str = "flowmon"
    # Ingest paths whose successful POSTs are logged at DEBUG, not INFO: a Prometheus or an
    # SDK sending every second would fill the log with ~86,400 lines a day (and at a few
    # hundred requests a second the log line was ~8 % of the event loop's time).
    quiet_ingest: Callable[[str], bool] | None = None
    # Page cache per read connection (KiB; None = SQLite's 2,000): see core.db.connect.
    read_cache_kib: int | None = None


async def _maybe_await(value: Awaitable[Any] | Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value


class AccessLogMiddleware:
    """Request id, access log in uvicorn's line format, and request self-metrics."""

    def __init__(
        self,
        app: ASGIApp,
        service: str,
        metrics: SelfMetrics,
        quiet_ingest: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        self.log = logging.getLogger(f"flowmon.access.{service}")
        self.metrics = metrics
        self.quiet_ingest = quiet_ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")[:64]
        rid = rid or uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            memory.TRIMMER.maybe_trim()  # the answer is sent; give back what building it took
            self.metrics.requests.labels(self.metrics.service, scope["method"], str(status)).inc()
            self.metrics.request_seconds.observe(elapsed)
            level = logging.INFO
            if (
                self.quiet_ingest is not None
                and status < 300
                and scope["method"] == "POST"
                and self.quiet_ingest(scope.get("path", ""))
            ):
                level = logging.DEBUG
            if self.log.isEnabledFor(level):
                client = scope.get("client") or ("-", 0)
                self.log.log(
                    level,
                    '%s:%s - "%s %s HTTP/%s" %d %.1fms rid=%s',
                    client[0],
                    client[1],
                    scope["method"],
                    scope.get("path", ""),
                    scope.get("http_version", "1.1"),
                    status,
                    elapsed * 1000,
                    rid,
                )


def open_context(spec: ServiceSpec) -> ServiceContext:
    """Migrate and open the service's database; nothing is started yet."""
    settings = spec.settings
    path = settings.database_path
    migrations.upgrade(path, spec.migrations_dir, spec.head_revision)
    db = Database(path, query_timeout=settings.query_timeout, read_cache_kib=spec.read_cache_kib)
    writer = Writer(path, batch_max=settings.writer_batch_max, name=spec.name)
    metrics = SelfMetrics(spec.name)
    metrics.watch(lambda: writer.queue_depth, db.size_bytes)
    writer.on_idle(memory.TRIMMER.maybe_trim)  # after an ingest burst
    return ServiceContext(spec.name, settings, db, writer, JobRunner(), metrics)


def build_app(spec: ServiceSpec, ctx: ServiceContext | None = None) -> FastAPI:
    ctx = ctx or open_context(spec)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.writer.start()
        for hook in spec.on_startup:
            await _maybe_await(hook(ctx))
        await ctx.jobs.start()
        try:
            yield
        finally:
            await ctx.jobs.stop()
            for hook in spec.on_shutdown:
                try:
                    await _maybe_await(hook(ctx))
                except Exception:
                    log.exception("%s: shutdown hook failed", spec.name)
            ctx.writer.stop()
            ctx.db.close()

    app = FastAPI(
        title=f"{spec.title} ({spec.name})",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    render = spec.render_error

    async def on_app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return render(request, exc.status, exc.message, exc.headers)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return render(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return render(request, 400, "; ".join(parts) or "invalid request", {})

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        rid = request.scope.get("state", {}).get("request_id", "-")
        log.exception("%s: unhandled error (request %s)", spec.name, rid)
        return render(request, 500, f"internal error (request id {rid})", {})

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_middleware(
        AccessLogMiddleware,
        service=spec.name,
        metrics=ctx.metrics,
        quiet_ingest=spec.quiet_ingest,
    )

    async def health() -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ok"}
        if spec.health is not None:
            body.update(await _maybe_await(spec.health(ctx)))
        return body

    app.add_api_route("/health", health, methods=["GET"], tags=["health"])
    for router in spec.routers:
        app.include_router(router)

    async def self_metrics() -> Response:
        # Registered after the service's routers: a service with its own /metrics
        # (the collector's federation endpoint) wins and includes these itself.
        return Response(ctx.metrics.exposition(), media_type="text/plain; version=0.0.4")

    app.add_api_route("/metrics", self_metrics, methods=["GET"], include_in_schema=False)
    from starlette.staticfiles import StaticFiles

    from core.ui.templating import STATIC_DIR

    for mount, folder in {"/static": STATIC_DIR, **spec.static_dirs}.items():
        app.mount(mount, StaticFiles(directory=folder, check_dir=False), name=mount)
    return app
