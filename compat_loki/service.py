"""Builds the log store app: routers, jobs, settings (DESIGN §4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from compat_loki.settings import LogsSettings
from core.app import ServiceSpec, build_app
from core.context import ServiceContext
from core.keys import ensure_api_key

SETTINGS = LogsSettings
MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0002"


def _health(ctx: ServiceContext) -> dict[str, Any]:
    with ctx.db.read() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'last_ingest'").fetchone()
    return {"logs_indexed": 0, "last_ingest": row[0] if row else None}


def create_app(settings: LogsSettings) -> FastAPI:
    settings = ensure_api_key(settings)
    spec = ServiceSpec(
        name="logs",
        settings=settings,
        migrations_dir=MIGRATIONS,
        head_revision=HEAD,
        health=_health,
        title="flowmon log store",
    )
    return build_app(spec)


def banner(app: FastAPI) -> list[str]:
    settings = ServiceContext.of_app(app).settings
    return [f"log store on http://{settings.host}:{settings.port}"]
