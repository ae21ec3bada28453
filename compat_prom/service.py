"""Builds the metrics collector app: routers, jobs, settings (DESIGN §5)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from compat_prom import api, maintenance, prom_api, spec_api, store, ui
from compat_prom.settings import MetricsSettings
from core.app import ServiceSpec, build_app
from core.context import ServiceContext
from core.keys import ensure_api_key

SETTINGS = MetricsSettings
MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0003"


def _health(ctx: ServiceContext) -> dict[str, Any]:
    """SPEC §6.5.5 with real figures: samples stored in the last 24 h, last rollup run."""
    with ctx.db.read() as conn:
        since = int(time.time() * 1000) - 24 * 3_600_000
        return {
            "metrics_received_24h": store.samples_received_since(conn, since),
            "last_aggregation": store.get_meta(conn, "last_aggregation"),
        }


def create_app(settings: MetricsSettings) -> FastAPI:
    settings = ensure_api_key(settings)
    spec = ServiceSpec(
        name="metrics",
        settings=settings,
        migrations_dir=MIGRATIONS,
        head_revision=HEAD,
        health=_health,
        routers=[api.router, spec_api.router, prom_api.router, ui.router],
        render_error=prom_api.render_error,
        on_startup=[maintenance.register],
        quiet_ingest=lambda path: path in ("/api/v1/write", "/api/metrics"),
        title="flowmon metrics collector",
    )
    return build_app(spec)


def banner(app: FastAPI) -> list[str]:
    settings = ServiceContext.of_app(app).settings
    return [f"metrics collector on http://{settings.host}:{settings.port}"]
