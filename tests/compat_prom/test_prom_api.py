"""Grafana's and promtool's requests (shared/contracts/grafana-prometheus.md) on a live server.

The data set is an hour of FlowRent-shaped counters and classic histogram buckets, written
through ``store.append_samples``; expected values are computed from how it was generated
(a counter growing by ``k`` per 15 s scrape has ``rate == k / 15`` everywhere).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from compat_prom import store
from compat_prom.service import create_app
from compat_prom.settings import MetricsSettings
from core.context import ServiceContext
from core.db import connect
from core.labels import Labels
from core.settings import load_settings
from tests.compat_prom.helpers import write
from tests.conftest import TEST_KEY, LiveServer

H = {"X-API-Key": TEST_KEY}
FORM = {**H, "Content-Type": "application/x-www-form-urlencoded"}
ENDPOINTS = ["/bookings", "/api/availability", "/"]
STATUSES = ["200", "500"]
LE = ["0.1", "0.5", "+Inf"]
STEP_MS = 15_000


def _k(endpoint: str, status: str) -> int:
    """Increase per scrape of http_requests_total{endpoint, status}."""
    return (ENDPOINTS.index(endpoint) + 1) * (5 if status == "200" else 1)


def load_data(app: Any, end_ms: int) -> None:
    start = end_ms - 3_600_000
    ts = list(range(start, end_ms + 1, STEP_MS))
    batch: list[tuple[Labels, list[int], list[float]]] = []
    for ep in ENDPOINTS:
        for st in STATUSES:
            labels = Labels(
                {"__name__": "http_requests_total", "endpoint": ep, "status": st, "method": "GET"}
            )
            batch.append((labels, ts, [float(i * _k(ep, st)) for i in range(len(ts))]))
        for j, le in enumerate(LE):
            labels = Labels(
                {"__name__": "http_request_duration_seconds_bucket", "endpoint": ep, "le": le}
            )
            batch.append((labels, ts, [float(i * (j + 1)) for i in range(len(ts))]))
    ctx = ServiceContext.of_app(app)
    conn = connect(ctx.db.path)
    try:
        write(conn, lambda c: store.append_samples(c, batch))
        write(
            conn,
            lambda c: store.put_metadata(
                c, [("http_requests_total", "counter", "Requests served.", "")]
            ),
        )
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """One live server with data for the module (read-only tests; start-up costs ~1 s)."""
    data_dir = tmp_path_factory.mktemp("prom-api") / "data"
    settings = load_settings(MetricsSettings, {"DATA_DIR": str(data_dir), "API_KEY": TEST_KEY})
    app = create_app(settings)
    end_ms = (int(time.time()) // 60) * 60_000
    with LiveServer(app) as srv:
        load_data(app, end_ms)
        yield srv.url, end_ms


def ok(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "success"
    return body["data"]


def err(resp: httpx.Response, status: int, kind: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["status"] == "error" and body["errorType"] == kind, body
    return str(body["error"])


# -- Grafana: data source set-up ----------------------------------------------------------


def test_save_and_test_evaluates_1_plus_1_at_time_4(server: tuple[str, int]) -> None:
    url, _ = server
    data = ok(httpx.post(url + "/api/v1/query", content="query=1%2B1&time=4", headers=FORM))
    assert data == {"resultType": "scalar", "result": [4, "2"]}


def test_buildinfo_is_get_only_and_prometheus_like(server: tuple[str, int]) -> None:
    url, _ = server
    err(httpx.post(url + "/api/v1/status/buildinfo", headers=FORM), 405, "method_not_allowed")
    data = ok(httpx.get(url + "/api/v1/status/buildinfo", headers=H))
    major, minor = (int(x) for x in data["version"].split(".")[:2])
    assert (major, minor) >= (2, 40)
    assert not data.get("features")  # non-empty features would make Grafana assume Mimir


def test_exemplar_probe_with_millisecond_times(server: tuple[str, int]) -> None:
    url, end_ms = server
    query = f"query=test&start={end_ms - 1_800_000}&end={end_ms}"
    resp = httpx.post(f"{url}/api/v1/query_exemplars?{query}", content=b"", headers=FORM)
    assert ok(resp) == []


def test_rules_answer_405_to_post_then_get_succeeds(server: tuple[str, int]) -> None:
    url, _ = server
    err(httpx.post(url + "/api/v1/rules", headers=FORM), 405, "method_not_allowed")
    assert ok(httpx.get(url + "/api/v1/rules", headers=H)) == {"groups": []}
    assert ok(httpx.get(url + "/api/v1/alerts", headers=H)) == {"alerts": []}


def test_auth_required_and_basic_auth_password_accepted(server: tuple[str, int]) -> None:
    url, _ = server
    err(httpx.get(url + "/api/v1/labels"), 401, "unauthorized")
    err(httpx.get(url + "/api/v1/labels", headers={"X-API-Key": "nope"}), 401, "unauthorized")
    ok(httpx.get(url + "/api/v1/labels", auth=("grafana", TEST_KEY)))


# -- Grafana: metric browser, editor, variables -----------------------------------------------


def test_metric_names_for_the_browser(server: tuple[str, int]) -> None:
    url, end_ms = server
    params = {"start": str(end_ms // 1000 - 3600), "end": str(end_ms // 1000), "limit": "40000"}
    resp = httpx.get(url + "/api/v1/label/__name__/values", params=params, headers=H)
    assert ok(resp) == ["http_request_duration_seconds_bucket", "http_requests_total"]
    err(httpx.post(url + "/api/v1/label/__name__/values", headers=FORM), 405, "method_not_allowed")


def test_label_names_post_form_with_match(server: tuple[str, int]) -> None:
    url, end_ms = server
    form = {
        "start": str(end_ms // 1000 - 600),
        "end": str(end_ms // 1000),
        "limit": "40000",
        "match[]": '{__name__=~".*requests_total.*"}',
    }
    data = ok(httpx.post(url + "/api/v1/labels", data=form, headers=H))
    assert data == ["__name__", "endpoint", "method", "status"]


def test_label_values_with_match_and_limit(server: tuple[str, int]) -> None:
    url, _ = server
    params = {"match[]": 'http_request_duration_seconds_bucket{endpoint="/"}'}
    data = ok(httpx.get(url + "/api/v1/label/le/values", params=params, headers=H))
    assert data == sorted(LE)
    resp = httpx.get(url + "/api/v1/label/endpoint/values", params={"limit": "2"}, headers=H)
    assert len(ok(resp)) == 2
    assert resp.json()["warnings"] == ["results truncated due to limit"]


def test_series_endpoint_post_form(server: tuple[str, int]) -> None:
    url, end_ms = server
    form = {
        "match[]": '{__name__!=""}',
        "start": str(end_ms // 1000 - 60),
        "end": str(end_ms // 1000),
    }
    data = ok(httpx.post(url + "/api/v1/series", data=form, headers=H))
    assert len(data) == len(ENDPOINTS) * (len(STATUSES) + len(LE))
    assert {
        "__name__": "http_requests_total",
        "endpoint": "/",
        "method": "GET",
        "status": "500",
    } in data
    err(httpx.post(url + "/api/v1/series", data={}, headers=H), 400, "bad_data")


def test_metadata_get_only(server: tuple[str, int]) -> None:
    url, _ = server
    data = ok(httpx.get(url + "/api/v1/metadata", params={"limit": "40000"}, headers=H))
    assert data["http_requests_total"] == [
        {"type": "counter", "help": "Requests served.", "unit": ""}
    ]
    err(httpx.post(url + "/api/v1/metadata", headers=FORM), 405, "method_not_allowed")


def test_query_result_variable(server: tuple[str, int]) -> None:
    url, end_ms = server
    form = {"query": "count by (endpoint) (http_requests_total)", "time": str(end_ms // 1000 + 1)}
    data = ok(httpx.post(url + "/api/v1/query", data=form, headers=H))
    assert data["resultType"] == "vector"
    got = {r["metric"]["endpoint"]: r["value"][1] for r in data["result"]}
    assert got == {ep: "2" for ep in ENDPOINTS}


# -- Grafana: panels --------------------------------------------------------------------------


def test_range_panel_post_form_params_in_body_and_url(server: tuple[str, int]) -> None:
    url, end_ms = server
    step = 60
    end = end_ms // 1000 // step * step
    start = end - 1800
    form = {"query": "sum by (endpoint) (rate(http_requests_total[5m]))", "step": str(step)}
    resp = httpx.post(
        f"{url}/api/v1/query_range?start={start}&end={end}&stats=all", data=form, headers=H
    )
    data = ok(resp)
    assert data["resultType"] == "matrix"
    assert data["stats"]["samples"]["totalQueryableSamples"] > 0
    for series in data["result"]:
        ep = series["metric"]["endpoint"]
        want = sum(_k(ep, st) for st in STATUSES) / 15
        assert [v[0] for v in series["values"]] == list(range(start, end + 1, step))
        assert all(math.isclose(float(v[1]), want, rel_tol=1e-9) for v in series["values"])


def test_histogram_quantile_panel(server: tuple[str, int]) -> None:
    url, end_ms = server
    q = "histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"
    form = {
        "query": q,
        "start": str(end_ms // 1000 - 300),
        "end": str(end_ms // 1000),
        "step": "15",
    }
    data = ok(httpx.post(url + "/api/v1/query_range", data=form, headers=H))
    (series,) = data["result"]
    # Buckets grow 1, 2, 3 per scrape: rank 1.5 of 3 falls in (0.1, 0.5], 0.5 of the way.
    assert all(math.isclose(float(v[1]), 0.3) for v in series["values"])


def test_instant_table_at_unaligned_time(server: tuple[str, int]) -> None:
    url, end_ms = server
    form = {
        "query": 'http_requests_total{endpoint="/", status="500"}',
        "time": f"{end_ms / 1000 - 0.5}",
    }
    data = ok(httpx.post(url + "/api/v1/query", data=form, headers=H))
    (row,) = data["result"]
    assert row["value"][0] == end_ms / 1000 - 0.5
    assert float(row["value"][1]) == 239 * _k("/", "500")  # the sample 15 s before the end


def test_rfc3339_times_and_duration_step(server: tuple[str, int]) -> None:
    url, end_ms = server
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end_ms / 1000))
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end_ms / 1000 - 120))
    params = {"query": "vector(1)", "start": start, "end": end, "step": "1m"}
    data = ok(httpx.get(url + "/api/v1/query_range", params=params, headers=H))
    assert len(data["result"][0]["values"]) == 3


def test_string_and_special_values(server: tuple[str, int]) -> None:
    url, _ = server
    data = ok(
        httpx.get(url + "/api/v1/query", params={"query": '"hello"', "time": "10"}, headers=H)
    )
    assert data == {"resultType": "string", "result": [10, "hello"]}
    data = ok(
        httpx.get(
            url + "/api/v1/query",
            params={"query": "vector(0/0) or vector(1/0)", "time": "10"},
            headers=H,
        )
    )
    assert {r["value"][1] for r in data["result"]} == {"NaN"}
    data = ok(httpx.get(url + "/api/v1/query", params={"query": "1/0", "time": "10"}, headers=H))
    assert data["result"][1] == "+Inf"


# -- errors -----------------------------------------------------------------------------------


def test_error_envelopes_and_status_codes(server: tuple[str, int]) -> None:
    url, end_ms = server
    q = url + "/api/v1/query"
    qr = url + "/api/v1/query_range"
    assert "parse error" in err(httpx.post(q, data={"query": "sum("}, headers=H), 400, "bad_data")
    err(httpx.post(q, data={"query": ""}, headers=H), 400, "bad_data")
    err(httpx.post(q, data={"query": "1", "time": "yesterday"}, headers=H), 400, "bad_data")
    err(httpx.post(qr, data={"query": "1", "start": "0", "end": "60"}, headers=H), 400, "bad_data")
    msg = err(
        httpx.post(qr, data={"query": "1", "start": "0", "end": "11001", "step": "1"}, headers=H),
        400,
        "bad_data",
    )
    assert "11,000 points" in msg
    err(
        httpx.post(qr, data={"query": "1", "start": "10", "end": "0", "step": "1"}, headers=H),
        400,
        "bad_data",
    )
    err(httpx.post(q, data={"query": "1", "timeout": "soon"}, headers=H), 400, "bad_data")
    msg = err(
        httpx.post(q, data={"query": "histogram_count(http_requests_total)"}, headers=H),
        422,
        "execution",
    )
    assert "native histograms" in msg
    resp = httpx.post(q, content=b"\xff\xfe", headers={**H, "Content-Type": "application/json"})
    err(resp, 400, "bad_data")
    # The good data is still there after the bad requests.
    data = ok(
        httpx.post(
            q, data={"query": "count(http_requests_total)", "time": str(end_ms / 1000)}, headers=H
        )
    )
    assert data["result"][0]["value"][1] == str(len(ENDPOINTS) * len(STATUSES))


def test_format_and_parse_query(server: tuple[str, int]) -> None:
    url, _ = server
    data = ok(
        httpx.get(
            url + "/api/v1/format_query", params={"query": "sum(rate(x[5m]))by(a)"}, headers=H
        )
    )
    assert data == "sum by (a) (rate(x[5m]))"
    data = ok(httpx.post(url + "/api/v1/parse_query", data={"query": "x offset 5m"}, headers=H))
    assert data["type"] == "vectorSelector" and data["offset"] == 300_000


# -- promtool -----------------------------------------------------------------------------------


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", "query", *args], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool missing (apt-get install prometheus)"
)
def test_promtool_against_the_live_server(server: tuple[str, int]) -> None:
    plain, end_ms = server
    # promtool 2.42 has no auth flags; Go's client sends the URL's user info as basic auth.
    url = plain.replace("http://", f"http://promtool:{TEST_KEY}@")
    end = end_ms // 1000
    out = _promtool(
        "instant",
        f"--time={end}",
        "-o",
        "json",
        url,
        "sum by (endpoint) (rate(http_requests_total[5m]))",
    )
    assert out.returncode == 0, out.stderr
    rows = {r["metric"]["endpoint"]: float(r["value"][1]) for r in json.loads(out.stdout)}
    assert rows == pytest.approx({ep: sum(_k(ep, s) for s in STATUSES) / 15 for ep in ENDPOINTS})

    q = 'sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
    out = _promtool("range", f"--start={end - 300}", f"--end={end}", "--step=60s", url, q)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("@[") == 6 and "0.1666666" in out.stdout  # 6 / 36

    out = _promtool(
        "series",
        '--match=http_requests_total{endpoint="/",status="500"}',
        f"--start={end - 3600}",
        f"--end={end}",
        url,
    )
    assert out.returncode == 0, out.stderr
    assert (
        out.stdout.strip()
        == '{__name__="http_requests_total", endpoint="/", method="GET", status="500"}'
    )

    out = _promtool("labels", f"--start={end - 3600}", f"--end={end}", url, "endpoint")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == sorted(ENDPOINTS)

    out = _promtool("instant", url, "sum(")
    assert out.returncode == 1 and "bad_data" in out.stderr
