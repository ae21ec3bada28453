"""Builds the log store app: routers, jobs, settings (DESIGN §4)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from compat_loki import api, query_api, store, ui
from compat_loki.live import Notifier
from compat_loki.records import LogRecord
from compat_loki.settings import LogsSettings
from compat_loki.tail import TICK_SECONDS, Tailer
from core.app import ServiceSpec, build_app, json_error
from core.context import ServiceContext
from core.keys import ensure_api_key

SETTINGS = LogsSettings
MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0002"
RETENTION_SECONDS = 5.0


def render_error(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    """Loki's paths answer errors in plain text (as Loki does); the native API in JSON."""
    if request.url.path.startswith(("/loki/", "/api/prom/")):
        return PlainTextResponse(message, status_code=status, headers=headers)
    return json_error(request, status, message, headers)


def _health(ctx: ServiceContext) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return {"logs_indexed": store.count_entries(conn), "last_ingest": store.last_ingest(conn)}


def _settings(ctx: ServiceContext) -> LogsSettings:
    settings = ctx.settings
    assert isinstance(settings, LogsSettings)
    return settings


def _start(ctx: ServiceContext) -> None:
    settings = _settings(ctx)
    notifier = Notifier(asyncio.get_running_loop())
    ctx.extra["notifier"] = notifier
    ctx.writer.on_commit(notifier.notify_threadsafe)

    with ctx.db.read() as conn:
        cursors = store.load_cursors(conn)

    def write(records: list[LogRecord], cursor: store.Cursor) -> Future[int]:
        future = ctx.writer.submit(
            lambda conn: store.store_tail_batch(conn, records, cursor, settings.max_entries)
        )

        def count(done: Future[int]) -> None:
            if done.exception() is None:
                ctx.metrics.count_ingested("log_line", len(records))

        future.add_done_callback(count)
        return future

    tailer = Tailer(
        settings.log_sources, settings.container_names, settings.tail_buffer, cursors, write
    )
    ctx.extra["tailer"] = tailer
    interval = max(min(settings.poll_interval, TICK_SECONDS), 0.05)

    def tick() -> None:
        tailer.tick()
        if tailer.behind:  # catching up: no pause between ticks
            ctx.jobs.wake_threadsafe(job)

    job = ctx.jobs.every("logs-tail", interval, tick, run_at_start=True)

    async def retention() -> None:
        while await ctx.writer.run(lambda conn: store.trim(conn, settings.max_entries)):
            pass

    ctx.jobs.every("logs-retention", RETENTION_SECONDS, retention, run_at_start=True)


def create_app(settings: LogsSettings) -> FastAPI:
    settings = ensure_api_key(settings)
    spec = ServiceSpec(
        name="logs",
        settings=settings,
        migrations_dir=MIGRATIONS,
        head_revision=HEAD,
        routers=[api.router, query_api.router, ui.router],
        health=_health,
        render_error=render_error,
        on_startup=[_start],
        quiet_ingest=lambda path: path == "/loki/api/v1/push",
        read_cache_kib=512,  # searches read far more pages than any cache holds
        title="flowmon log store",
    )
    return build_app(spec)


def banner(app: FastAPI) -> list[str]:
    settings = ServiceContext.of_app(app).settings
    return [
        f"log store on http://{settings.host}:{settings.port}",
        f"  Loki push: http://{settings.host}:{settings.port}/loki/api/v1/push",
    ]
