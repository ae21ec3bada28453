"""Reading the provisioned Grafana dashboards: every query with its panel, and the
template variables Grafana would substitute before sending it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.stack import DEPLOY, load_yaml

PROVISIONING = DEPLOY / "grafana/provisioning"
DASHBOARD_FILES = sorted((PROVISIONING / "dashboards").glob("*.json"))

# What Grafana puts in place of its variables for a 1-hour range at ~15 s resolution
# ($__rate_interval = max(step + scrape interval, 4 x scrape interval) with the data
# source's 15 s timeInterval). The dashboards' own variables get their "All" values.
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
