"""flowmon_* self-metrics: both exposition formats parse with the reference parsers."""

from __future__ import annotations

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from core.selfmetrics import SelfMetrics


def filled() -> SelfMetrics:
    m = SelfMetrics("logs")
    m.requests.labels("logs", "GET", "200").inc()
    m.requests.labels("logs", "GET", "200").inc()
    m.requests.labels("logs", "POST", "400").inc()
    for seconds in (0.0005, 0.003, 0.003, 7.0, 60.0):
        m.request_seconds.observe(seconds)
    m.count_ingested("line", 5)
    m.count_dropped("line", 'bad "label"\nvalue\\', 2)
    m.watch(lambda: 3, lambda: 1234)
    return m


def samples(families: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families  # type: ignore[attr-defined]
        for s in f.samples
    }


def test_text_format_parses_with_the_reference_parser() -> None:
    got = samples(parse_text(filled().exposition().decode()))
    svc = ("service", "logs")
    assert got[("flowmon_http_requests_total", (("method", "GET"), svc, ("status", "200")))] == 2
    assert got[("flowmon_http_request_duration_seconds_bucket", (("le", "0.001"), svc))] == 1
    assert got[("flowmon_http_request_duration_seconds_bucket", (("le", "0.005"), svc))] == 3
    assert got[("flowmon_http_request_duration_seconds_bucket", (("le", "10.0"), svc))] == 4
    assert got[("flowmon_http_request_duration_seconds_bucket", (("le", "+Inf"), svc))] == 5
    assert got[("flowmon_http_request_duration_seconds_count", (svc,))] == 5
    assert abs(got[("flowmon_http_request_duration_seconds_sum", (svc,))] - 67.0065) < 1e-9
    assert got[("flowmon_ingested_items_total", (("kind", "line"), svc))] == 5
    reason = ("reason", 'bad "label"\nvalue\\')
    assert got[("flowmon_dropped_items_total", (("kind", "line"), reason, svc))] == 2
    assert got[("flowmon_writer_queue_depth", (svc,))] == 3
    assert got[("flowmon_db_size_bytes", (svc,))] == 1234


def test_openmetrics_format_parses_and_ends_with_eof() -> None:
    text = filled().exposition(openmetrics=True).decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(text)}
    assert families["flowmon_http_requests"].type == "counter"
    assert families["flowmon_http_request_duration_seconds"].type == "histogram"
    got = samples(families.values())
    assert got[("flowmon_ingested_items_total", (("kind", "line"), ("service", "logs")))] == 5
