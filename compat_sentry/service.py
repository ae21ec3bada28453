"""Builds the error tracker app: routers, jobs, settings (DESIGN §3)."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from compat_sentry import api, sentry_api, store, ui
from compat_sentry.alerts import AlertSender
from compat_sentry.ingest import Ingestor
from compat_sentry.settings import ErrorsSettings
from core.app import ServiceSpec, build_app, json_error, open_context
from core.context import ServiceContext
from core.keys import ensure_api_key
from core.migrations import upgrade

log = logging.getLogger("flowmon.errors")

SETTINGS = ErrorsSettings
MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0002"


def dsn(project: store.Project, settings: ErrorsSettings, host: str | None = None) -> str:
    """The Sentry DSN of a project: ``http://<public_key>@<host>:<port>/<project_id>``."""
    if host is None:
        bind = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
        host = f"{bind}:{settings.port}"
    return f"http://{project.public_key}@{host}/{project.id}"


def public_dsn(project: store.Project, settings: ErrorsSettings) -> str:
    """DSN built on BASE_URL when it is set to something other than the default."""
    parts = urlsplit(settings.base_url)
    if settings.base_url != ErrorsSettings.model_fields["base_url"].default and parts.netloc:
        return f"{parts.scheme}://{project.public_key}@{parts.netloc}/{project.id}"
    return dsn(project, settings)


async def _create_default_project(ctx: ServiceContext) -> None:
    settings = ctx.settings
    assert isinstance(settings, ErrorsSettings)
    name = settings.default_project
    await ctx.writer.run(lambda conn: store.ensure_project(conn, name))


def _health(ctx: ServiceContext) -> dict[str, Any]:
    """SPEC §4.4.6 ``{"status": "ok"}`` plus figures an operator wants at a glance."""
    with ctx.db.read(timeout=2.0) as conn:
        figures: dict[str, Any] = store.stats(conn)
        figures["projects"] = len(store.list_projects(conn))
        figures["alerts_pending"] = int(
            conn.execute("SELECT count(*) FROM alert_outbox WHERE status = 'pending'").fetchone()[0]
        )
    figures["db_bytes"] = ctx.db.size_bytes()
    figures["writer_queue"] = ctx.writer.queue_depth
    return figures


def render_error(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    """Sentry paths answer as Relay does: ``{"detail": ...}``, X-Sentry-Error, CORS."""
    if sentry_api.is_sentry_path(request.url.path):
        # A header value must be latin-1 without line breaks; messages may quote client text.
        flat = " ".join(message[:200].encode("ascii", "replace").decode().split())
        merged = {**sentry_api.CORS_HEADERS, "X-Sentry-Error": flat, **headers}
        return JSONResponse({"detail": message}, status_code=status, headers=merged)
    return json_error(request, status, message, headers)


def _retention(ctx: ServiceContext, settings: ErrorsSettings) -> None:
    """ET-034: resolved groups older than RETENTION_DAYS, in bounded batches; sparkline
    counts older than two days; the text of alert mails older than RETENTION_DAYS (their
    outbox rows stay: they are what keeps a fingerprint from being mailed twice)."""
    cutoff = time.time() - settings.retention_days * 86400
    while ctx.writer.run_sync(lambda conn: store.delete_resolved_before(conn, cutoff)):
        pass
    hour = int(time.time() // 3600) - 48
    ctx.writer.run_sync(lambda conn: store.delete_old_hours(conn, hour))
    ctx.writer.run_sync(lambda conn: store.compact_outbox(conn, cutoff))


def create_app(settings: ErrorsSettings) -> FastAPI:
    settings = ensure_api_key(settings)
    spec = ServiceSpec(
        name="errors",
        settings=settings,
        migrations_dir=MIGRATIONS,
        head_revision=HEAD,
        routers=[sentry_api.router, api.router, ui.router],
        health=_health,
        render_error=render_error,
        on_startup=[_create_default_project],
        quiet_ingest=sentry_api.is_sentry_path,
        title="flowmon error tracker",
    )
    ctx = open_context(spec)
    if settings.alert_recipients and settings.postmark_api_token is None:
        log.warning("ALERT_EMAILS is set but POSTMARK_API_TOKEN is not: no alert mails")
    ingest = Ingestor(ctx, settings)
    sender = AlertSender(ctx, settings)
    ctx.extra["ingest"] = ingest
    ctx.extra["alerts"] = sender
    alert_job = ctx.jobs.every("alerts", 5.0, sender.run, run_at_start=True)
    ingest.on_alert_queued = lambda: ctx.jobs.wake_threadsafe(alert_job)
    ctx.extra["alert_job"] = alert_job
    ctx.jobs.every("retention", 3600.0, lambda: _retention(ctx, settings), run_at_start=True)
    return build_app(spec, ctx)


def banner(app: FastAPI) -> list[str]:
    ctx = ServiceContext.of_app(app)
    settings = ctx.settings
    assert isinstance(settings, ErrorsSettings)
    with ctx.db.read() as conn:
        projects = store.list_projects(conn)
    lines = [f"error tracker on http://{settings.host}:{settings.port}"]
    lines.append(f"API key: {settings.api_key_value}")
    lines += [f"DSN of {p.name}: {public_dsn(p, settings)}" for p in projects]
    return lines


def cli(argv: Sequence[str], settings: ErrorsSettings) -> int:
    """``flowmon project create NAME`` / ``flowmon project list``."""
    import sqlite3

    from core.db import connect

    parser = argparse.ArgumentParser(prog="flowmon project")
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a project and print its DSN")
    create.add_argument("name")
    sub.add_parser("list", help="list projects with their DSNs")
    args = parser.parse_args(list(argv)[1:])
    upgrade(settings.database_path, MIGRATIONS, HEAD)
    conn: sqlite3.Connection = connect(settings.database_path)
    try:
        if args.action == "create":
            if not args.name.strip() or len(args.name) > 100:
                print("flowmon: a project name is 1 to 100 characters")
                return 2
            conn.execute("BEGIN IMMEDIATE")
            project = store.ensure_project(conn, args.name.strip())
            conn.execute("COMMIT")
            print(f"{project.name}\t{project.id}\t{public_dsn(project, settings)}")
        else:
            for project in store.list_projects(conn):
                print(f"{project.name}\t{project.id}\t{public_dsn(project, settings)}")
    finally:
        conn.close()
    return 0
