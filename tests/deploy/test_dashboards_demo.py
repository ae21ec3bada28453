"""The FlowRent overview dashboard against the demo's traffic (issue 9).

Where test_dashboards_live.py loads exact, back-dated data, this test loads the stack the
way FlowRent would: ``flowmon demo`` runs the FlowRent-like demo app (flowrent_patch's
middleware, metrics client, business and job helpers, JSON logs written as a Docker
json-file log the log store tails) and drives real requests at it for a few seconds. Every
query of the overview dashboard must then return data through the real Prometheus and
Loki APIs, in Grafana's request shapes. Skipped only while a query API answers 404.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import free_port
from tests.deploy.dashboards import Query, points, queries, run_loki, run_prometheus
from tests.deploy.stack import Stack, repo_bin, start_stack

pytestmark = pytest.mark.slow

KEY = "deploy-demo-shared-key-0123456789abcdefABCDEF"  # the demo sends one key to all
OVERVIEW = [q for q in queries() if q.dashboard == "flowrent-overview"]
DEMO_SECONDS = 20  # long enough for rate() windows to span a 15 s step boundary


@pytest.fixture(scope="module")
def demo_loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("demo")
    docker_root = tmp / "docker-containers"  # start_stack's LOG_SOURCES
    stack = start_stack(
        repo_bin(),
        tmp,
        {"ERRORS_API_KEY": KEY, "METRICS_API_KEY": KEY, "LOGS_API_KEY": KEY, "POLL_INTERVAL": "1"},
    )
    try:
        args = [
            str(repo_bin() / "flowmon"), "demo",
            "--data-dir", str(tmp / "demo-data"),
            "--errors-url", stack.url("errors"),
            "--logs-url", stack.url("logs"),
            "--metrics-url", stack.url("metrics"),
            "--api-key", KEY,
            "--docker-root", str(docker_root),
            "--port", str(free_port()),
            "--rate", "25",
            "--duration", str(DEMO_SECONDS),
            "--flush-interval", "1",
            "--job-interval", "2",
            # A counter needs two samples in a window for increase(); failures from
            # several flushes make email_failed_total reliably have them in 20 s.
            "--email-failure-rate", "0.5",
        ]  # fmt: skip
        demo = subprocess.run(
            args, env=stack.env, capture_output=True, text=True, timeout=DEMO_SECONDS + 90
        )
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        yield stack
    finally:
        stack.stop()


@pytest.mark.parametrize("query", OVERVIEW, ids=lambda q: q.id)
def test_overview_query_returns_demo_data(demo_loaded: Stack, query: Query) -> None:
    with httpx.Client(timeout=30) as client:
        if query.kind == "prometheus":
            data = run_prometheus(client, demo_loaded, query, KEY)
        else:
            data = run_loki(client, demo_loaded, query, KEY)
    values = points(data)
    assert values, f"{query.id}: no data for {query.substituted()}"
    assert any(math.isfinite(v) for v in values), f"{query.id}: only NaN/Inf: {values[:10]}"
