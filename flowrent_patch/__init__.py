"""What FlowRent adds to report into flowmon (SPEC §7); talks to the stack over HTTP only.

``flowrent_patch`` imports nothing from flowmon's services or core (import-linter): it is
what an application ships, and reaches the stack the way FlowRent would, through the
stock ``sentry-sdk`` and the SPEC's HTTP APIs. ``INTEGRATION.md`` beside this file shows
the exact changes to FlowRent; ``demo/`` is a FlowRent-like app wired with all of it.
"""

from flowrent_patch.error_client import install_exception_handler, report_error
from flowrent_patch.jobs import attach_apscheduler, job_timer, monitored_job
from flowrent_patch.jsonlog import JSONFormatter, configure_json_logging
from flowrent_patch.metrics_client import MetricsClient
from flowrent_patch.middleware import RequestMetricsMiddleware
from flowrent_patch.sentry import init_sentry
from flowrent_patch.settings import MonitoringSettings

__all__ = [
    "JSONFormatter",
    "MetricsClient",
    "MonitoringSettings",
    "RequestMetricsMiddleware",
    "attach_apscheduler",
    "configure_json_logging",
    "init_sentry",
    "install_exception_handler",
    "job_timer",
    "monitored_job",
    "report_error",
]
