"""Settings of the log store (SPEC §5.7 names; ``LOGS_`` prefix overrides)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from core.settings import CommonSettings


class LogsSettings(CommonSettings):
    service: ClassVar[str] = "logs"
    env_prefix: ClassVar[str] = "LOGS_"
    default_port: ClassVar[int] = 5011

    log_sources: Path = Field(
        Path("/var/lib/docker/containers"), description="Docker containers directory to tail."
    )
    containers: str = Field("*", description="Comma-separated container names; * or empty = all.")
    max_entries: int = Field(100_000, description="Log entries kept (ring buffer).")
    poll_interval: float = Field(5, description="Most seconds between log file checks.")
    tail_buffer: int = Field(1000, description="Lines read from the end of a new container's log.")

    @property
    def container_names(self) -> set[str] | None:
        """Names to watch, or None for every container."""
        names = {c.strip().lstrip("/") for c in self.containers.split(",") if c.strip()}
        return None if not names or "*" in names else names
