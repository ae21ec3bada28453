"""Settings of the demo app: FlowRent's way (pydantic-settings + ``get_settings``), plus ours.

The demo inherits ``MonitoringSettings`` exactly as INTEGRATION.md tells FlowRent to, so
the same environment variables (SPEC §7.1) configure it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from flowrent_patch.settings import MonitoringSettings


class DemoSettings(MonitoringSettings):
    app_name: str = Field(default="flowrent-demo", description="Shown in /health and logs.")
    demo_db_path: Path = Field(
        default=Path("./data/demo/flowrent_demo.db"), description="SQLite file."
    )
    demo_email_failure_rate: float = Field(default=0.2, description="Share of e-mails that fail.")
    demo_job_interval: float = Field(default=15.0, description="Seconds between scheduler runs.")
    log_level: str = Field(default="INFO", description="Root log level.")
