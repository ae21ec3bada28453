"""Settings of the metrics collector (SPEC §6.8 names; ``METRICS_`` prefix overrides)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from core.settings import CommonSettings

PROMETHEUS_DEFAULT_BUCKETS = ".005,.01,.025,.05,.1,.25,.5,1,2.5,5,10"


class MetricsSettings(CommonSettings):
    service: ClassVar[str] = "metrics"
    env_prefix: ClassVar[str] = "METRICS_"
    default_port: ClassVar[int] = 5012

    retention_raw: str = Field("1h", description="How long raw samples are kept.")
    retention_minute: str = Field("24h", description="How long minute aggregates are kept.")
    retention_hourly: str = Field("30d", description="How long hourly aggregates are kept.")
    aggregation_interval: int = Field(60, description="Seconds between aggregation runs.")
    histogram_buckets: str = Field(
        PROMETHEUS_DEFAULT_BUCKETS, description="Bucket bounds for native histograms' _bucket."
    )
