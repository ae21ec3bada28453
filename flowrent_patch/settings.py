"""The settings FlowRent adds to ``app/config.py`` (SPEC §7.1) plus the Sentry SDK's three.

``MonitoringSettings`` is a pydantic-settings class meant to be *inherited* by FlowRent's
own ``Settings`` (``class Settings(MonitoringSettings): ...``): the fields below join
FlowRent's, read from the same environment / ``.env`` file, and every one is optional so
an app without monitoring configured runs exactly as before (SPEC §9.2: monitoring must
never be a reason for FlowRent not to start).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MonitoringSettings(BaseSettings):
    """SPEC §7.1 settings; unset URLs turn the matching client into a no-op."""

    model_config = SettingsConfigDict(extra="ignore")

    error_tracker_url: str | None = Field(
        default=None, description="Error tracker base URL, e.g. http://error-tracker:8000."
    )
    error_tracker_api_key: SecretStr | None = Field(
        default=None, description="API key sent as X-API-Key to the error tracker."
    )
    error_tracker_project: str = Field(
        default="flowrent", description="Project name in native reports."
    )
    metrics_collector_url: str | None = Field(
        default=None, description="Metrics collector base URL, e.g. http://metrics-collector:8000."
    )
    metrics_collector_api_key: SecretStr | None = Field(
        default=None, description="API key sent as X-API-Key to the metrics collector."
    )
    metrics_flush_interval: float = Field(default=10, description="Seconds between metric flushes.")
    metrics_buffer_size: int = Field(
        default=10_000,
        description="Most metric points held while the collector is unreachable; "
        "beyond it the oldest are dropped and counted.",
    )
    sentry_dsn: str | None = Field(default=None, description="DSN of the error tracker's project.")
    sentry_environment: str = Field(
        default="prod", description="Environment tag: prod, dev, staging."
    )
    sentry_release: str | None = Field(
        default=None, description="Release tag; unset lets the SDK detect it (SENTRY_RELEASE, git)."
    )
    sentry_traces_sample_rate: float | None = Field(
        default=None, description="Share of requests traced; unset sends no transactions."
    )


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
