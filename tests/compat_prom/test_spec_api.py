"""SPEC §6.5.2-§6.5.5 and GET /metrics on data sent through the native API."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from compat_prom import maintenance, rollup, store
from compat_prom.service import create_app
from compat_prom.settings import MetricsSettings
from compat_prom.sketch import spec_rank
from tests.conftest import TEST_KEY, in_process

H = {"X-API-Key": TEST_KEY}
ENDPOINTS = {"/bookings": 0.2, "/api/availability": 0.05}


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def load(client: Any, minutes: int = 5, seed: int = 3) -> dict[str, Any]:
    """FlowRent-shaped traffic over the last ``minutes`` minutes; returns what was sent."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    start = (now // 60_000 - minutes - 1) * 60_000
    sent: dict[str, Any] = {"durations": {}, "requests": 0, "errors": 0}
    items = []
    for m in range(minutes):
        durs = sent["durations"].setdefault(start + m * 60_000, [])
        for i in range(40):
            ep = rng.choice(list(ENDPOINTS))
            status = rng.choice(["200"] * 8 + ["404", "500"])
            ts = start + m * 60_000 + i * 1000
            labels = {"method": "GET", "endpoint": ep, "status": status}
            d = rng.expovariate(1 / ENDPOINTS[ep])
            durs.append(d)
            sent["requests"] += 1
            sent["errors"] += status != "200"
            items.append(
                {
                    "name": "http_requests_total",
                    "type": "counter",
                    "labels": labels,
                    "value": 1,
                    "timestamp": iso(ts),
                }
            )
            items.append(
                {
                    "name": "http_request_duration_seconds",
                    "type": "histogram",
                    "labels": labels,
                    "value": d,
                    "timestamp": iso(ts),
                }
            )
    items.append({"name": "http_requests_in_progress", "type": "gauge", "value": 3})
    for i in range(0, len(items), 100):
        r = client.post("/api/metrics", json={"metrics": items[i : i + 100]}, headers=H)
        assert r.status_code == 202 and "rejected" not in r.json()
    ctx = client.app.state.ctx
    client.portal.call(maintenance.aggregate, ctx)
    return sent


@pytest.fixture
def client(make_settings: Callable[..., Any]) -> Any:
    with in_process(create_app(make_settings(MetricsSettings))) as c:
        yield c


def test_get_metrics_minute_percentiles_exact(client: Any) -> None:
    sent = load(client)
    r = client.get(
        "/api/metrics", params={"name": "http_request_duration_seconds", "period": "1h"}, headers=H
    )
    assert r.status_code == 200
    body = r.json()
    assert body["resolution"] == "minute" and body["period"] == "1h"
    assert len(body["data"]) == len(sent["durations"])
    for row, vals in zip(body["data"], sent["durations"].values(), strict=True):
        assert row["count"] == len(vals)
        assert row["avg"] == pytest.approx(sum(vals) / len(vals))
        ordered = sorted(vals)
        # several series per minute: from the merged sketches, within 0.5 %
        assert row["p95"] == pytest.approx(ordered[spec_rank(len(vals), 0.95)], rel=0.005)
    one = client.get(
        "/api/metrics",
        params={
            "name": "http_requests_total",
            "period": "1h",
            "resolution": "hour",
            "labels": "endpoint:/bookings,status:200",
        },
        headers=H,
    ).json()
    assert one["resolution"] == "hour" and one["data"]
    assert all(row["p95"] is None for row in one["data"])
    assert sum(row["increase"] for row in one["data"]) > 0
    assert client.get("/api/metrics", headers=H).status_code == 400  # name required
    assert (
        client.get("/api/metrics", params={"name": "x", "period": "1y"}, headers=H).status_code
        == 400
    )
    assert (
        client.get("/api/metrics", params={"name": "x", "labels": "nocolon"}, headers=H).status_code
        == 400
    )
    assert client.get("/api/metrics", params={"name": "x"}).status_code == 401


def test_names_dashboard_health(client: Any) -> None:
    sent = load(client)
    names = {
        m["name"]: m["type"] for m in client.get("/api/metrics/names", headers=H).json()["metrics"]
    }
    assert names["http_requests_total"] == "counter"
    assert names["http_request_duration_seconds"] == "histogram"
    assert names["http_requests_in_progress"] == "gauge"
    assert names["http_request_duration_seconds_bucket"] == "counter"
    d = client.get("/api/dashboard", params={"period": "1h"}, headers=H).json()
    # the first sample of each counter series has no predecessor: its increase starts at 0
    assert 0 < d["summary"]["total_requests"] <= sent["requests"]
    assert 0 < d["summary"]["error_rate"] < 1
    all_d = sorted(v for vals in sent["durations"].values() for v in vals)
    assert d["summary"]["p95_latency_ms"] == pytest.approx(
        1000 * all_d[spec_rank(len(all_d), 0.95)], rel=0.005
    )
    assert len(d["latency"]) == len(sent["durations"])
    assert {e["endpoint"] for e in d["top_endpoints"]} == set(ENDPOINTS)
    assert d["top_endpoints"][0]["avg_ms"] > 0
    assert client.get("/api/dashboard", params={"period": "2h"}, headers=H).status_code == 400
    assert (
        client.get("/api/dashboard", params={"period": "24h"}, headers=H).json()["resolution"]
        == "hour"
    )
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["metrics_received_24h"] > 2 * sent["requests"]
    assert health["last_aggregation"].endswith("Z")


def test_scrape_endpoint_text_openmetrics_match(client: Any, tmp_path: Any) -> None:
    load(client, minutes=1)
    r = client.get("/metrics", headers=H)
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "text/plain; version=0.0.4"
    )
    text = r.text
    assert "http_requests_in_progress 3.0" in text
    assert (
        'http_request_duration_seconds_bucket{endpoint="/bookings",le="+Inf",method="GET",status="200"}'
        in text
    )
    assert "flowmon_http_requests_total" in text
    m = client.get(
        "/metrics", params={"match[]": 'http_requests_total{status=~"5.."}'}, headers=H
    ).text
    assert m and all(line.startswith("#") or 'status="500"' in line for line in m.splitlines())
    om = client.get(
        "/metrics", headers={**H, "Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")
    assert client.get("/metrics", params={"match[]": "{"}, headers=H).status_code == 400
    assert client.get("/metrics").status_code == 401
    if shutil.which("promtool") is None:
        pytest.skip("promtool missing: apt-get install -y prometheus (make test installs it)")
    for body in (text, m):
        path = tmp_path / "exp.txt"
        path.write_text(body)
        with path.open("rb") as fh:
            res = subprocess.run(
                ["promtool", "check", "metrics"], stdin=fh, capture_output=True, timeout=30
            )
        assert res.returncode == 0, res.stderr.decode()


def test_catch_up_is_idempotent_over_http(client: Any) -> None:
    load(client, minutes=2)
    ctx = client.app.state.ctx
    before = client.get(
        "/api/metrics", params={"name": "http_requests_total", "period": "1h"}, headers=H
    ).json()
    client.portal.call(maintenance.aggregate, ctx)
    assert ctx.writer.run_sync(lambda c: rollup.step(c, int(time.time() * 1000)))
    after = client.get(
        "/api/metrics", params={"name": "http_requests_total", "period": "1h"}, headers=H
    ).json()
    assert before == after


def test_views_include_the_minutes_not_rolled_up_yet(client: Any) -> None:
    """The rollup job waits a minute after a minute ends; the SPEC views compute the minutes
    it has not reached from raw samples, exactly as it will store them."""
    load(client, minutes=3)  # rolled up to a minute ago
    ctx = client.app.state.ctx
    with ctx.db.read() as conn:
        done = int(store.get_meta(conn, store.WATERMARK_KEY) or 0)
    now = int(time.time() * 1000)
    stamps = sorted({done + 1_000, done + 2_000, now - 1_000, now - 500})
    items = [
        {
            "name": name,
            "type": kind,
            "labels": {"method": "GET", "endpoint": "/bookings", "status": "200"},
            "value": value,
            "timestamp": iso(ts),
        }
        for ts in stamps
        for name, kind, value in (
            ("http_requests_total", "counter", 1),
            ("http_request_duration_seconds", "histogram", 0.25),
        )
    ]
    assert client.post("/api/metrics", json={"metrics": items}, headers=H).status_code == 202
    fresh = {ts // 60_000 * 60_000 for ts in stamps}

    def views() -> list[Any]:
        out = []
        for params in (
            {"name": "http_request_duration_seconds", "period": "1h"},
            {"name": "http_requests_total", "period": "1h", "labels": "endpoint:/bookings"},
            {"name": "http_request_duration_seconds", "period": "1h", "resolution": "hour"},
        ):
            out.append(client.get("/api/metrics", params=params, headers=H).json())
        out.append(client.get("/api/dashboard", params={"period": "1h"}, headers=H).json())
        out.append(client.get("/api/dashboard", params={"period": "24h"}, headers=H).json())
        return out

    live = views()
    minutes = {row["bucket"]: row for row in live[0]["data"]}
    for bucket in fresh:
        n = sum(ts // 60_000 * 60_000 == bucket for ts in stamps)
        assert minutes[iso(bucket)[:19] + "Z"]["count"] == n
    assert sum(row["count"] for row in live[2]["data"]) == sum(
        row["count"] for row in live[0]["data"]
    )
    assert {iso(b)[:19] + "Z" for b in fresh} <= {r["bucket"] for r in live[3]["request_rate"]}
    # once the job has stored those minutes the answers are the same, field by field
    stop = (now // 60_000 + 1) * 60_000
    client.portal.call(ctx.writer.run, lambda c: rollup.rollup_minutes(c, done, stop))
    with ctx.db.read() as conn:
        stored = conn.execute(
            "SELECT count(*) FROM rollups WHERE res = ? AND bucket >= ?", (store.MINUTE_MS, done)
        ).fetchone()[0]
    assert stored >= len(fresh)
    assert views() == live
