"""Reading the provisioned Grafana dashboards: every query with its panel, and the
template variables Grafana would substitute before sending it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.stack import DEPLOY, Stack, load_yaml

PROVISIONING = DEPLOY / "grafana/provisioning"
DASHBOARD_FILES = sorted((PROVISIONING / "dashboards").glob("*.json"))

# What Grafana puts in place of its variables for a 1-hour range at ~15 s resolution
# ($__rate_interval = max(step + scrape interval, 4 x scrape interval) with the data
# source's 15 s timeInterval). The dashboards' own variables get their "All" values.
STEP = 15  # seconds; the data source's timeInterval, Grafana's step for these ranges
WINDOW = 15 * 60  # the dashboard range the tests ask for, ending now
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__auto": "15s",
    "$__range": "1h",
    "$container": ".+",
    "$search": "",
}


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    kind: str  # "prometheus" or "loki"
    uid: str
    expr: str
    instant: bool

    @property
    def id(self) -> str:
        return f"{self.dashboard}/{self.panel}/{self.ref}"

    def substituted(self) -> str:
        text = self.expr
        for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
            text = text.replace(name, GRAFANA_VARIABLES[name])
        return text


def load_dashboard(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries() -> list[Query]:
    found = []
    for path in DASHBOARD_FILES:
        dash = load_dashboard(path)
        for panel in panels(dash):
            for target in panel.get("targets", []):
                ds = target.get("datasource") or panel["datasource"]
                found.append(
                    Query(
                        dash["uid"],
                        panel["title"],
                        target["refId"],
                        ds["type"],
                        ds["uid"],
                        target["expr"],
                        bool(target.get("instant")),
                    )
                )
    return found


def datasources() -> dict[str, dict[str, Any]]:
    doc = load_yaml(PROVISIONING / "datasources/flowmon.yml")
    return {ds["uid"]: ds for ds in doc["datasources"]}


# --- running a query the way Grafana sends it (../shared/contracts) ---------------


def api_available(client: httpx.Client, url: str, method: str) -> bool:
    r = client.request(method, url, params={"query": "vector(1)", "time": "4"})
    return r.status_code != 404


def grafana_times(now: float) -> tuple[int, int]:
    """Grafana's promlib floors start and end to a multiple of the step."""
    end = int(now // STEP * STEP)
    return int((now - WINDOW) // STEP * STEP), end


def run_prometheus(client: httpx.Client, stack: Stack, query: Query, key: str) -> Any:
    now = time.time()
    start, end = grafana_times(now)
    expr = query.substituted()
    if query.instant:
        path, form = "/api/v1/query", {"query": expr, "time": f"{now:.3f}"}
    else:
        path = "/api/v1/query_range"
        form = {"query": expr, "start": str(start), "end": str(end), "step": str(STEP)}
    r = client.post(
        stack.url("metrics") + path,
        data=form,
        headers={"X-API-Key": key},
    )
    if r.status_code == 404 and not api_available(
        client, stack.url("metrics") + "/api/v1/query", "POST"
    ):
        pytest.skip("the collector's Prometheus query API answers 404 (not implemented yet)")
    assert r.status_code == 200, f"{r.status_code} {r.text[:500]}"
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


def run_loki(client: httpx.Client, stack: Stack, query: Query, key: str) -> Any:
    now_ns = time.time_ns()
    params = {
        "query": query.substituted(),
        "direction": "backward",
        "limit": "1000",
        "start": str(now_ns - WINDOW * 1_000_000_000),
        "end": str(now_ns),
        "step": f"{STEP * 1000}ms",
    }
    r = client.get(
        stack.url("logs") + "/loki/api/v1/query_range",
        params=params,
        headers={"X-API-Key": key, "X-Query-Tags": "Source=grafana"},
    )
    if r.status_code == 404 and not api_available(
        client, stack.url("logs") + "/loki/api/v1/query", "GET"
    ):
        pytest.skip("the log store's Loki query API answers 404 (not implemented yet)")
    assert r.status_code == 200, f"{r.status_code} {r.text[:500]}"
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


def points(data: dict[str, Any]) -> list[float]:
    kind = data["resultType"]
    if kind == "matrix":
        return [float(v) for series in data["result"] for _, v in series["values"]]
    if kind == "vector":
        return [float(s["value"][1]) for s in data["result"]]
    if kind == "streams":
        return [1.0 for stream in data["result"] for _ in stream["values"]]
    if kind == "scalar":
        return [float(data["result"][1])]
    raise AssertionError(f"unexpected resultType {kind}")
