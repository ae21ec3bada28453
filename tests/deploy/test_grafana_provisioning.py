"""Grafana provisioning (issue 9): data sources, dashboard provider and the two dashboards.

Static checks: the JSON is valid, every panel names a data source uid that the
provisioning defines with the right type, every PromQL expression parses with
``promql_parser`` (Prometheus' own grammar, via its Rust port) and every LogQL expression
passes both an independent structural check and our log store's LogQL parser. Whether the
expressions return data is test_dashboards_live.py's job.
"""

from __future__ import annotations

import re
from typing import Any

import promql_parser
import pytest

from core.selfmetrics import SelfMetrics
from tests.deploy.dashboards import (
    DASHBOARD_FILES,
    PROVISIONING,
    Query,
    datasources,
    load_dashboard,
    panels,
    queries,
)
from tests.deploy.stack import load_yaml

QUERIES = queries()
PROM = [q for q in QUERIES if q.kind == "prometheus"]
LOKI = [q for q in QUERIES if q.kind == "loki"]

# SPEC §6.4: what FlowRent sends (histograms also as Prometheus _bucket/_sum/_count).
SPEC_METRICS = {
    "http_requests_total",
    "http_request_duration_seconds",
    "http_requests_in_progress",
    "booking_created_total",
    "booking_confirmed_total",
    "booking_cancelled_total",
    "payment_received_total",
    "email_sent_total",
    "email_failed_total",
    "job_executed_total",
    "job_duration_seconds",
}
LOG_LABELS = {"container", "stream", "level"}
LOGQL_FUNCTIONS = {
    "count_over_time",
    "rate",
    "bytes_over_time",
    "bytes_rate",
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "topk",
}


def self_metric_names() -> set[str]:
    """Sample names of every flowmon_* family, used or not yet (labelled families have no
    samples before their first increment)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names = set()
    for family in SelfMetrics("x").families():
        names |= {family.name + suffix for suffix in suffixes[family.kind]}
    return names


def known_metric_names() -> set[str]:
    names = set(SPEC_METRICS)
    for hist in ("http_request_duration_seconds", "job_duration_seconds"):
        names |= {f"{hist}_bucket", f"{hist}_sum", f"{hist}_count"}
    return names | self_metric_names()


def test_there_are_two_dashboards_with_the_issue_panels() -> None:
    titles = {load_dashboard(p)["title"] for p in DASHBOARD_FILES}
    assert titles == {"FlowRent overview", "flowmon self-monitoring"}
    overview = next(
        load_dashboard(p)
        for p in DASHBOARD_FILES
        if load_dashboard(p)["uid"] == "flowrent-overview"
    )
    types = {p["title"]: p["type"] for p in panels(overview)}
    assert types["Requests in progress"] == "gauge"
    assert types["Top endpoints"] == "table"
    assert types["Logs"] == "logs"
    assert types["Log volume by level"] == "timeseries"
    exprs = " ".join(q.expr for q in QUERIES)
    for needle in (
        "histogram_quantile(0.5,",
        "histogram_quantile(0.95,",
        "histogram_quantile(0.99,",
        'status=~"4.."',
        'status=~"5.."',
        "flowmon_ingested_items_total",
        "flowmon_dropped_items_total",
        "flowmon_writer_queue_depth",
        "flowmon_db_size_bytes",
        "sum by (level) (count_over_time(",
    ):
        assert needle in exprs, needle


def test_dashboards_have_unique_ids_and_grid_positions() -> None:
    for path in DASHBOARD_FILES:
        dash = load_dashboard(path)
        ids = [p["id"] for p in panels(dash)]
        assert len(ids) == len(set(ids)), path.name
        for panel in panels(dash):
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]


def test_every_panel_datasource_is_provisioned() -> None:
    provisioned = datasources()
    assert {ds["type"] for ds in provisioned.values()} == {"prometheus", "loki"}
    for path in DASHBOARD_FILES:
        for panel in panels(load_dashboard(path)):
            if panel["type"] == "row":
                continue
            refs = [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
            for ref in refs:
                assert ref["uid"] in provisioned, (path.name, panel["title"])
                assert provisioned[ref["uid"]]["type"] == ref["type"], panel["title"]
        for var in load_dashboard(path)["templating"]["list"]:
            if "datasource" in var:
                assert var["datasource"]["uid"] in provisioned


def test_datasources_send_the_api_key_header_from_the_environment() -> None:
    for ds in datasources().values():
        assert ds["jsonData"]["httpHeaderName1"] == "X-API-Key"
        assert re.fullmatch(r"\$\{\w+_API_KEY\}", ds["secureJsonData"]["httpHeaderValue1"])
        assert re.fullmatch(r"\$\{FLOWMON_\w+_URL\}", ds["url"])
        assert ds["access"] == "proxy"
    prom = datasources()["flowmon-prometheus"]
    assert prom["jsonData"]["httpMethod"] == "POST"  # Grafana's default; contract table


def test_dashboard_provider_points_at_the_mounted_folder() -> None:
    doc: dict[str, Any] = load_yaml(PROVISIONING / "dashboards/flowmon.yml")
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    # docker-compose mounts ./grafana/provisioning at /etc/grafana/provisioning.
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards"


def metric_names(node: Any) -> set[str]:
    """Metric names of every selector in a promql_parser AST."""
    if isinstance(node, promql_parser.VectorSelector):
        return {node.name}
    if isinstance(node, promql_parser.MatrixSelector):
        return metric_names(node.vector_selector)
    children: list[Any] = []
    for attr in ("expr", "lhs", "rhs", "param"):
        children.append(getattr(node, attr, None))
    children.extend(getattr(node, "args", None) or [])
    return set().union(*(metric_names(c) for c in children if c is not None))


@pytest.mark.parametrize("query", PROM, ids=lambda q: q.id)
def test_promql_parses_and_uses_known_metrics(query: Query) -> None:
    names = metric_names(promql_parser.parse(query.substituted()))
    assert names, query.expr
    assert names <= known_metric_names(), names - known_metric_names()


def test_promql_check_can_fail() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (endpoint) (rate(http_requests_total[1m])")


STRING = r'"(?:[^"\\]|\\.)*"'
MATCHER = rf"\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*({STRING})\s*"
SELECTOR = rf"\{{{MATCHER}(?:,{MATCHER})*\}}"


def logql_problems(expr: str) -> list[str]:
    """An independent, deliberately small LogQL check: balanced brackets, well-formed
    stream selectors with a non-empty-matching matcher, line filters with a string,
    known functions, durations in ranges, grouping only by labels the store has."""
    problems = []
    stripped = re.sub(STRING, '""', expr)
    for open_, close in ("()", "{}", "[]"):
        if stripped.count(open_) != stripped.count(close):
            problems.append(f"unbalanced {open_}{close}")
    selectors = re.findall(r"\{[^}]*\}", re.sub(STRING, lambda m: m[0].replace("}", ""), expr))
    if not selectors:
        problems.append("no stream selector")
    for sel in selectors:
        matchers = re.findall(MATCHER, sel)
        if not re.fullmatch(SELECTOR, sel):
            problems.append(f"bad selector {sel}")
        elif not any(
            op in ("=", "=~") and value not in ('""', '".*"') for _, op, value in matchers
        ):
            problems.append(f"selector {sel} matches everything")
        for label, _, _ in matchers:
            if label not in LOG_LABELS:
                problems.append(f"unknown label {label}")
    for rest in re.findall(r"\}\s*((?:\|[=~]|!=|!~)[^\[]*)", expr):
        if not re.fullmatch(rf"(?:\s*(?:\|=|\|~|!=|!~)\s*{STRING}\s*)+", rest):
            problems.append(f"bad line filter {rest}")
    for func in re.findall(r"\b([a-z_]+)\s*(?:by\s*\([^)]*\)\s*)?\(", stripped):
        if func not in LOGQL_FUNCTIONS | {"by"}:
            problems.append(f"unknown function {func}")
    for duration in re.findall(r"\[([^\]]*)\]", stripped):
        if not re.fullmatch(r"\d+(ms|s|m|h|d)", duration):
            problems.append(f"bad range [{duration}]")
    for labels in re.findall(r"\bby\s*\(([^)]*)\)", stripped):
        for label in (s.strip() for s in labels.split(",")):
            if label not in LOG_LABELS:
                problems.append(f"grouping by unknown label {label}")
    return problems


@pytest.mark.parametrize("query", LOKI, ids=lambda q: q.id)
def test_logql_is_plausible(query: Query) -> None:
    assert logql_problems(query.substituted()) == []


@pytest.mark.parametrize("query", LOKI, ids=lambda q: q.id)
def test_logql_parses_with_the_log_store_parser(query: Query) -> None:
    from compat_loki.query import parser

    parser.parse(query.substituted())


@pytest.mark.parametrize(
    "bad",
    [
        'sum by (level) (count_over_time({container=~".+"}[15s])',
        'count_over_time({container=~".*"}[15s])',
        '{container=".+"',
        'count_over_time({container="a"}[fifteen])',
        '{container="a"} |= missing_quotes',
        'sum by (pod) (count_over_time({container="a"}[1m]))',
        'counter_over_time({container="a"}[1m])',
    ],
)
def test_logql_check_can_fail(bad: str) -> None:
    assert logql_problems(bad)
