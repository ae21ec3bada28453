"""Builds the metrics collector app: routers, jobs, settings (DESIGN §5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from compat_prom.settings import MetricsSettings
from core.app import ServiceSpec, build_app
from core.context import ServiceContext
from core.keys import ensure_api_key

SETTINGS = MetricsSettings
MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0002"


def _health(ctx: ServiceContext) -> dict[str, Any]:
    with ctx.db.read() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'last_aggregation'").fetchone()
    return {"metrics_received_24h": 0, "last_aggregation": row[0] if row else None}


def create_app(settings: MetricsSettings) -> FastAPI:
    settings = ensure_api_key(settings)
    spec = ServiceSpec(
        name="metrics",
        settings=settings,
        migrations_dir=MIGRATIONS,
        head_revision=HEAD,
        health=_health,
        title="flowmon metrics collector",
    )
    return build_app(spec)


def banner(app: FastAPI) -> list[str]:
    settings = ServiceContext.of_app(app).settings
    return [f"metrics collector on http://{settings.host}:{settings.port}"]
