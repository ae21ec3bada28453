"""What a running service holds: settings, database, writer, jobs, self-metrics.

Routes get it through ``ServiceContext.of(request)``; background jobs get it passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from core.db import Database
from core.jobs import JobRunner
from core.selfmetrics import SelfMetrics
from core.settings import CommonSettings
from core.writer import Writer


@dataclass
class ServiceContext:
    name: str
    settings: CommonSettings
    db: Database
    writer: Writer
    jobs: JobRunner
    metrics: SelfMetrics
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def of(conn: HTTPConnection) -> ServiceContext:
        ctx: ServiceContext = conn.app.state.ctx
        return ctx

    @staticmethod
    def of_app(app: Any) -> ServiceContext:
        ctx: ServiceContext = app.state.ctx
        return ctx
