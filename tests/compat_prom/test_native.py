"""SPEC §6.5.1 native POST over real HTTP: per-item validation, counters, histograms."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from compat_prom import store
from compat_prom.service import create_app
from compat_prom.settings import MetricsSettings
from core.labels import Matcher
from tests.conftest import TEST_KEY, LiveServer

HEADERS = {"X-API-Key": TEST_KEY}


def select(srv: LiveServer, name: str) -> dict[str, Any]:
    ctx = srv.server.config.app.state.ctx
    with ctx.db.read() as conn:
        got = store.StoreReader(conn).select([Matcher("__name__", "=", name)], 0, 2**62)
    return {repr(s.labels): s for s in got}


def test_native_post_counters_gauges_histograms(make_settings: Callable[..., Any]) -> None:
    settings = make_settings(MetricsSettings, HISTOGRAM_BUCKETS="0.1,0.5,1")
    with LiveServer(create_app(settings)) as srv:
        items = [
            {
                "name": "http_requests_total",
                "type": "counter",
                "labels": {"method": "GET"},
                "value": 1,
                "timestamp": "2026-11-25T10:00:00Z",
            },
            {
                "name": "http_requests_total",
                "type": "counter",
                "labels": {"method": "GET"},
                "value": 2,
                "timestamp": "2026-11-25T10:00:01Z",
            },
            {
                "name": "lat",
                "type": "histogram",
                "labels": {"e": "/a"},
                "value": 0.3,
                "timestamp": 1_795_000_000,
            },
            {
                "name": "lat",
                "type": "histogram",
                "labels": {"e": "/a"},
                "value": 0.05,
                "timestamp": 1_795_000_001,
            },
            {"name": "active", "type": "gauge", "value": 7},
            {"name": "bad name", "type": "gauge", "value": 1},
            {"name": "x", "type": "summary", "value": 1},
            {"name": "x", "type": "gauge", "value": "1"},
            {"name": "x", "type": "counter", "value": -1},
            {"name": "x", "type": "gauge", "value": 1, "labels": {"__x": "y"}},
            {"name": "x", "type": "gauge", "value": 1, "labels": {"a": 1}},
            {"name": "x", "type": "histogram", "value": 1, "labels": {"le": "1"}},
            {"name": "x", "type": "gauge", "value": 1, "timestamp": "yesterday"},
            "not an object",
        ]
        r = httpx.post(srv.url + "/api/metrics", json={"metrics": items}, headers=HEADERS)
        assert r.status_code == 202
        body = r.json()
        assert body["status"] == "accepted" and body["count"] == 5
        assert [x["index"] for x in body["rejected"]] == list(range(5, 14))
        assert all(x["reason"] for x in body["rejected"])
        # a second request continues the running total durably
        r = httpx.post(
            srv.url + "/api/metrics",
            json={
                "metrics": [
                    {
                        "name": "http_requests_total",
                        "type": "counter",
                        "labels": {"method": "GET"},
                        "value": 4,
                    }
                ]
            },
            headers=HEADERS,
        )
        assert r.json() == {"status": "accepted", "count": 1}
        (counter,) = select(srv, "http_requests_total").values()
        assert list(counter.values) == [1, 3, 7]
        buckets = select(srv, "lat_bucket")
        last = {s.labels["le"]: s.values[-1] for s in buckets.values()}
        assert last == {"0.1": 1, "0.5": 2, "1.0": 2, "+Inf": 2}
        assert [s.values[-1] for s in select(srv, "lat_sum").values()] == [0.35]
        assert [s.values[-1] for s in select(srv, "lat_count").values()] == [2]
        assert select(srv, "lat") == {}  # raw observations are not a sample series
        (gauge,) = select(srv, "active").values()
        assert gauge.values[-1] == 7 and abs(gauge.timestamps[-1] - time.time() * 1000) < 60_000


def test_native_post_errors(make_settings: Callable[..., Any]) -> None:
    with LiveServer(create_app(make_settings(MetricsSettings))) as srv:
        url = srv.url + "/api/metrics"
        assert httpx.post(url, json={"metrics": []}).status_code == 401
        assert httpx.post(url, content=b"{nope", headers=HEADERS).status_code == 400
        assert httpx.post(url, json={"metric": []}, headers=HEADERS).status_code == 400
        assert httpx.post(url, json=[1], headers=HEADERS).status_code == 400
        r = httpx.post(url, json={"metrics": []}, headers={"Authorization": f"Bearer {TEST_KEY}"})
        assert r.status_code == 202 and r.json() == {"status": "accepted", "count": 0}
        r = httpx.post(url, json={"metrics": []}, auth=("prometheus", TEST_KEY))
        assert r.status_code == 202
        assert httpx.post(url, json={"metrics": []}, auth=("p", "wrong")).status_code == 401
