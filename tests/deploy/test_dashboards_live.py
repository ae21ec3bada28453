"""Every dashboard query evaluated against a live flowmon, as Grafana sends it (issue 9).

A ``flowmon all`` subprocess is loaded with data through the paths production uses:
FlowRent-shaped metrics through the native ``POST /api/metrics`` (SPEC §6.5.1), FlowRent's
container logs as real Docker json-file logs the log store tails (SPEC §5.6), and the
``flowmon_*`` self-metrics scraped by a real Prometheus in agent mode with the
configuration of deploy/prometheus/agent.yml and remote-written into the collector, as the
compose files' ``self-scrape`` service does.

Each panel query then goes through the real HTTP APIs in Grafana's request shapes
(../shared/contracts): Prometheus ``POST`` form ``/api/v1/query_range`` (start/end floored
to the step) or ``/api/v1/query``; Loki ``GET /loki/api/v1/query_range`` with ns times and
``step=<n>ms``, the data sources' ``X-API-Key`` header on both. Every query must succeed
and return data. While a query API is not there yet (404) its queries are skipped, so this
test turns itself on when the engines land; any other failure fails.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import free_port
from tests.deploy.dashboards import (
    STEP,
    WINDOW,
    Query,
    grafana_times,
    points,
    queries,
    run_loki,
    run_prometheus,
)
from tests.deploy.stack import DEPLOY, KEYS, Stack, load_yaml, repo_bin, start_stack

pytestmark = pytest.mark.slow


ENDPOINTS = [("GET", "/bookings"), ("POST", "/bookings"), ("GET", "/bookings/{booking_id}")]
QUERIES = queries()


def docker_log_tree(root: Path, now: float) -> None:
    """FlowRent's two containers as Docker's json-file driver writes them."""
    for n, name in enumerate(("rentl_prod", "rentl_dev")):
        cid = f"{n + 1:064x}"
        folder = root / cid
        folder.mkdir(parents=True)
        (folder / "config.v2.json").write_text(json.dumps({"ID": cid, "Name": f"/{name}"}))
        lines = []
        for i in range(240):
            ts = now - WINDOW + 60 + i * 3.5
            level = ("INFO", "INFO", "WARNING", "ERROR", "DEBUG")[i % 5]
            msg = json.dumps({"ts": ts, "level": level, "logger": "app", "msg": f"booking {i}"})
            stream = "stderr" if level == "ERROR" else "stdout"
            when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
            lines.append(json.dumps({"log": msg + "\n", "stream": stream, "time": when}))
        (folder / f"{cid}-json.log").write_text("\n".join(lines) + "\n")


def native_metrics(now: float) -> list[dict[str, Any]]:
    """Ten minutes of FlowRent traffic, every 10 s, as its metrics client sends it."""
    items: list[dict[str, Any]] = []
    stamp = ""

    def add(name: str, kind: str, labels: dict[str, str], value: float) -> None:
        items.append(
            {"name": name, "type": kind, "labels": labels, "value": value, "timestamp": stamp}
        )

    for step in range(60):
        stamp = datetime.fromtimestamp(now - 600 + step * 10, UTC).isoformat()
        stamp = stamp.replace("+00:00", "Z")

        for k, (method, endpoint) in enumerate(ENDPOINTS):
            for status, count in (("200", 5 + k), ("404", 1), ("500", step % 2)):
                labels = {"method": method, "endpoint": endpoint, "status": status}
                if count:
                    add("http_requests_total", "counter", labels, count)
                    add("http_request_duration_seconds", "histogram", labels, 0.02 * (k + 1))
                    add("http_request_duration_seconds", "histogram", labels, 0.3 + 0.1 * k)
        add("http_requests_in_progress", "gauge", {}, step % 4)
        add("booking_created_total", "counter", {"rental_item_type": "bike"}, 2)
        add("booking_confirmed_total", "counter", {"rental_item_type": "bike"}, 1)
        add("booking_cancelled_total", "counter", {"reason": "customer"}, 1)
        add("payment_received_total", "counter", {"method": "card"}, 1)
        add("email_sent_total", "counter", {"template": "booking_confirmed"}, 1)
        add("email_failed_total", "counter", {"template": "reminder", "error": "timeout"}, 1)
        add("job_executed_total", "counter", {"job_name": "send_reminders", "status": "ok"}, 1)
        add("job_duration_seconds", "histogram", {"job_name": "send_reminders"}, 1.5 + step % 3)
    # One bad item: rejected and counted in flowmon_dropped_items_total, the rest kept.
    add("bad metric name", "counter", {}, 1)
    return items


def agent_config(stack: Stack, key_file: Path) -> dict[str, Any]:
    """deploy/prometheus/agent.yml with the compose service names swapped for our ports."""
    config: dict[str, Any] = load_yaml(DEPLOY / "prometheus/agent.yml")
    hosts = {
        "error-tracker:8000": f"127.0.0.1:{stack.ports['errors']}",
        "log-viewer:8000": f"127.0.0.1:{stack.ports['logs']}",
        "metrics-collector:8000": f"127.0.0.1:{stack.ports['metrics']}",
    }
    config["global"].update(scrape_interval="1s", scrape_timeout="1s")
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [hosts[t] for t in static["targets"]]
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(key_file)
    (remote,) = config["remote_write"]
    for name, addr in hosts.items():
        remote["url"] = remote["url"].replace(name, addr)
    remote["authorization"]["credentials_file"] = str(key_file)
    remote["queue_config"] = {"batch_send_deadline": "1s"}
    return config


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("live")
    now = time.time()
    docker_log_tree(tmp / "docker-containers", now)
    stack = start_stack(
        repo_bin(), tmp, {"POLL_INTERVAL": "1", "CONTAINERS": "rentl_prod,rentl_dev"}
    )
    agent: subprocess.Popen[bytes] | None = None
    try:
        r = httpx.post(
            stack.url("metrics") + "/api/metrics",
            json={"metrics": native_metrics(now)},
            headers={"X-API-Key": KEYS["METRICS_COLLECTOR_API_KEY"]},
            timeout=30,
        )
        assert r.status_code == 202, r.text
        assert len(r.json()["rejected"]) == 1, r.text
        prometheus = shutil.which("prometheus")
        if prometheus is not None:
            key_file = tmp / "metrics_api_key"
            key_file.write_text(KEYS["METRICS_COLLECTOR_API_KEY"])
            config = tmp / "agent.yml"
            config.write_text(yaml.safe_dump(agent_config(stack, key_file)))
            with (tmp / "agent.log").open("wb") as log:
                agent = subprocess.Popen(
                    [
                        prometheus,
                        "--enable-feature=agent",
                        f"--config.file={config}",
                        f"--storage.agent.path={tmp / 'agent-data'}",
                        f"--web.listen-address=127.0.0.1:{free_port()}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            wait_for_self_metrics(stack)
        time.sleep(max(0.0, 3 - (time.time() - now)))  # the tailer's first passes
        yield stack
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(10)
        stack.stop()


def wait_for_self_metrics(stack: Stack, timeout: float = 45) -> None:
    """Until the agent's samples of every service reach the newest step a Grafana range
    query ends on.

    Grafana floors ``end`` to the step (15 s), so data younger than the last boundary is
    invisible to a range panel; a rate() also needs two scrapes before that boundary. The
    three services are scraped independently, so each must be there (one service's
    series arriving first is not enough: the dropped-items panel has only the
    collector's)."""
    deadline = time.monotonic() + timeout
    expr = "sum by (service) (rate(flowmon_http_requests_total[1m]))"
    while time.monotonic() < deadline:
        start, end = grafana_times(time.time())
        r = httpx.post(
            stack.url("metrics") + "/api/v1/query_range",
            data={"query": expr, "start": str(start), "end": str(end), "step": str(STEP)},
            headers={"X-API-Key": KEYS["METRICS_COLLECTOR_API_KEY"]},
            timeout=10,
        )
        if r.status_code == 404:
            time.sleep(6)  # no query API to watch yet: a few scrapes, then go on
            return
        if r.status_code == 200 and len(r.json()["data"]["result"]) >= len(stack.ports):
            return
        time.sleep(1)


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.id)
def test_panel_query_returns_data(loaded: Stack, query: Query) -> None:
    if "flowmon_" in query.expr and shutil.which("prometheus") is None:
        pytest.skip("Debian's prometheus (agent mode) feeds flowmon_*: `make setup-prometheus`")
    with httpx.Client(timeout=30) as client:
        if query.kind == "prometheus":
            data = run_prometheus(client, loaded, query, KEYS["METRICS_COLLECTOR_API_KEY"])
        else:
            data = run_loki(client, loaded, query, KEYS["LOGS_API_KEY"])
    values = points(data)
    assert values, f"{query.id}: no data for {query.substituted()}\n{loaded.output()[-2000:]}"
    assert any(math.isfinite(v) for v in values), f"{query.id}: only NaN/Inf: {values[:10]}"


def test_grafana_save_and_test_of_both_data_sources(loaded: Stack) -> None:
    """The health checks Grafana runs on "Save & test" (contracts: healthcheck.go)."""
    with httpx.Client(timeout=10) as client:
        r = client.post(
            loaded.url("metrics") + "/api/v1/query",
            data={"query": "1+1", "time": "4"},
            headers={"X-API-Key": KEYS["METRICS_COLLECTOR_API_KEY"]},
        )
        if r.status_code == 404:
            pytest.skip("the collector's Prometheus query API answers 404 (not implemented yet)")
        assert r.status_code == 200 and r.json()["status"] == "success", r.text
        assert float(r.json()["data"]["result"][1]) == 2
        r = client.get(
            loaded.url("logs") + "/loki/api/v1/query",
            params={"direction": "backward", "query": "vector(1)+vector(1)", "time": "4000000000"},
            headers={"X-API-Key": KEYS["LOGS_API_KEY"]},
        )
        if r.status_code == 404:
            pytest.skip("the log store's Loki query API answers 404 (not implemented yet)")
        assert r.status_code == 200, r.text
        (sample,) = r.json()["data"]["result"]
        assert sample["value"][1] == "2"
