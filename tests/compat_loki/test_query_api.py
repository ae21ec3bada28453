"""Grafana's Loki data source requests (../shared/contracts/grafana-loki.md) against a live
server loaded through the Docker tailer and Loki push; field order, shapes, errors, tail."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from compat_loki.service import create_app
from compat_loki.settings import LogsSettings
from core.settings import load_settings
from tests.compat_loki.dockertree import T0, Container
from tests.conftest import TEST_KEY, LiveServer

AUTH = {"X-API-Key": TEST_KEY}
SEC = 1_000_000_000
APP_LINES = 120
NOW = time.time_ns()
PUSH_T0 = NOW - 3 * 86_400 * SEC  # two days and more in the past: query splitting by day


def _app_line(i: int) -> str:
    level = "error" if i % 4 == 0 else "info"
    return json.dumps({"level": level, "status": 500 + i % 4 if i % 4 == 0 else 200, "i": i})


def _push(url: str, streams: list[dict[str, Any]]) -> None:
    r = httpx.post(url + "/loki/api/v1/push", json={"streams": streams}, headers=AUTH, timeout=10)
    assert r.status_code == 204, r.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One loaded server for the module (only the tail test adds lines, to its own stream)."""
    tmp_path = tmp_path_factory.mktemp("loki-api")
    docker = tmp_path / "containers"
    app = Container(docker, "a" * 64, "app")
    app.write(*(_app_line(i) for i in range(APP_LINES)))
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "API_KEY": TEST_KEY,
        "LOG_SOURCES": str(docker),
        "POLL_INTERVAL": "0.2",
    }
    settings = load_settings(LogsSettings, env)
    with LiveServer(create_app(settings)) as srv:
        # two days of pushed lines, one per hour, across day boundaries
        values = [
            [str(PUSH_T0 + h * 3600 * SEC), f"level=warn msg=hour{h} took={h}ms"] for h in range(60)
        ]
        _push(srv.url, [{"stream": {"container": "api", "level": "warn"}, "values": values}])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _count(srv, '{container="app"}', T0 - SEC, T0 + 3600 * SEC) >= APP_LINES:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the tailer did not ingest the container's lines")
        yield srv


def _get(
    srv: LiveServer, path: str, params: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.get(srv.url + path, params=params, headers={**AUTH, **(headers or {})}, timeout=10)


def _count(srv: LiveServer, selector: str, start: int, end: int) -> int:
    r = _get(
        srv,
        "/loki/api/v1/query",
        {"query": f"sum(count_over_time({selector}[{(end - start) // SEC}s]))", "time": str(end)},
    )
    result = r.json()["data"]["result"]
    return int(result[0]["value"][1]) if result else 0


def _keys(obj: dict[str, Any]) -> list[str]:
    return list(obj)


def test_save_and_test(server: LiveServer) -> None:
    r = _get(
        server,
        "/loki/api/v1/query",
        {"direction": "backward", "query": "vector(1)+vector(1)", "time": "4000000000"},
    )
    assert r.status_code == 200
    body = r.json()
    assert _keys(body) == ["status", "data"]
    assert _keys(body["data"]) == ["resultType", "result", "stats"]
    assert body["data"]["resultType"] == "vector"
    assert body["data"]["result"] == [{"metric": {}, "value": [4000000000, "2"]}]
    assert "summary" in body["data"]["stats"]
    assert r.text.startswith('{"status":"success","data":{"resultType":"vector","result":')


def test_label_browser(server: LiveServer) -> None:
    span = {"start": str(T0 - 3600 * SEC), "end": str(NOW)}
    names = _get(server, "/loki/api/v1/labels", span).json()
    assert names["status"] == "success"
    assert {"container", "level", "stream"} <= set(names["data"])
    values = _get(server, "/loki/api/v1/label/container/values", span).json()["data"]
    assert {"api", "app"} <= set(values) and values == sorted(values)
    levels = _get(server, "/loki/api/v1/label/level/values", {**span, "query": '{container="api"}'})
    assert levels.json()["data"] == ["warn"]
    series = _get(server, "/loki/api/v1/series", {**span, "match[]": '{container="app"}'}).json()
    assert series["status"] == "success"
    assert all(s["container"] == "app" for s in series["data"]) and series["data"]
    stats = _get(server, "/loki/api/v1/index/stats", {**span, "query": '{container="app"}'}).json()
    assert _keys(stats) == ["streams", "chunks", "bytes", "entries"]
    assert stats["entries"] == APP_LINES


def test_explore_log_query_direction_limit_step(server: LiveServer) -> None:
    base = {
        "query": '{container="app"} |= "error"',
        "start": str(T0 - SEC),
        "end": str(T0 + 3600 * SEC),
        "step": "60000ms",
    }
    r = _get(server, "/loki/api/v1/query_range", {**base, "direction": "backward", "limit": "5"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert _keys(data) == ["resultType", "result", "stats"]
    assert data["resultType"] == "streams"
    values = [v for s in data["result"] for v in s["values"]]
    assert len(values) == 5
    for stream in data["result"]:
        assert _keys(stream) == ["stream", "values"]
        assert all(
            len(v) == 2 and isinstance(v[0], str) and v[0].isdigit() for v in stream["values"]
        )
        ts = [int(v[0]) for v in stream["values"]]
        assert ts == sorted(ts, reverse=True)
    assert all('"error"' in v[1] for v in values)
    fwd = _get(
        server, "/loki/api/v1/query_range", {**base, "direction": "forward", "limit": "1000"}
    )
    fwd_values = [v for s in fwd.json()["data"]["result"] for v in s["values"]]
    assert len(fwd_values) == APP_LINES // 4
    assert [int(v[0]) for v in fwd_values] == sorted(int(v[0]) for v in fwd_values)
    # the newest 5 backward are the last 5 forward
    assert sorted(v[0] for v in values) == sorted(v[0] for v in fwd_values)[-5:]


def test_json_parser_and_categorize_labels(server: LiveServer) -> None:
    params = {
        "query": '{container="app"} | json | status >= 500',
        "start": str(T0 - SEC),
        "end": str(T0 + 3600 * SEC),
        "limit": "3",
    }
    plain = _get(server, "/loki/api/v1/query_range", params).json()["data"]
    assert "encodingFlags" not in plain
    assert all(s["stream"]["status"].startswith("50") for s in plain["result"])
    cat = _get(
        server,
        "/loki/api/v1/query_range",
        params,
        {"X-Loki-Response-Encoding-Flags": "categorize-labels"},
    ).json()["data"]
    assert _keys(cat) == ["resultType", "encodingFlags", "result", "stats"]
    assert cat["encodingFlags"] == ["categorize-labels"]
    for stream in cat["result"]:
        assert "status" not in stream["stream"] and stream["stream"]["container"] == "app"
        for value in stream["values"]:
            assert len(value) == 3
            assert value[2]["parsed"]["status"].startswith("50")


def test_log_volume_histogram(server: LiveServer) -> None:
    start, end = T0 - 60 * SEC, T0 + 600 * SEC
    r = _get(
        server,
        "/loki/api/v1/query_range",
        {
            "query": 'sum by (level) (count_over_time({container="app"}[1m]))',
            "start": str(start),
            "end": str(end),
            "step": "60000ms",
        },
        {"X-Query-Tags": "Source=logvolhist"},
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["resultType"] == "matrix"
    # the store's level label (detected at ingest) is upper-case; Grafana lower-cases it
    by_level = {s["metric"]["level"].lower(): s["values"] for s in data["result"]}
    assert set(by_level) == {"error", "info"}
    for series in data["result"]:
        assert _keys(series) == ["metric", "values"]
        for t, v in series["values"]:
            assert isinstance(t, int | float) and isinstance(v, str)
    # one line per ms from T0: every line falls in one 1m window
    assert sum(int(v) for _, v in by_level["error"]) == APP_LINES // 4
    assert sum(int(v) for _, v in by_level["info"]) == APP_LINES - APP_LINES // 4


def test_log_context_forward_and_backward(server: LiveServer) -> None:
    everything = _get(
        server,
        "/loki/api/v1/query_range",
        {
            "query": '{container="app"}',
            "start": str(T0 - SEC),
            "end": str(T0 + 3600 * SEC),
            "limit": "1000",
            "direction": "forward",
        },
    ).json()["data"]["result"]
    biggest = max(everything, key=lambda s: len(s["values"]))
    rows = [int(v[0]) for v in biggest["values"]]
    row = rows[50]
    stream = biggest["stream"]
    selector = "{" + ",".join(f'{k}="{v}"' for k, v in stream.items()) + "}"
    before = _get(
        server,
        "/loki/api/v1/query_range",
        {
            "query": selector,
            "limit": "10",
            "direction": "backward",
            "start": str(row - 7200 * SEC),
            "end": str(row),
        },
    ).json()["data"]["result"]
    after = _get(
        server,
        "/loki/api/v1/query_range",
        {
            "query": selector,
            "limit": "10",
            "direction": "forward",
            "start": str(row),
            "end": str(row + 7200 * SEC),
        },
    ).json()["data"]["result"]
    before_ts = [int(v[0]) for s in before for v in s["values"]]
    after_ts = [int(v[0]) for s in after for v in s["values"]]
    assert before_ts == rows[40:50][::-1]  # end is exclusive
    assert after_ts == rows[50:60]  # start is inclusive: the row itself comes back


def test_query_splitting_by_day(server: LiveServer) -> None:
    start = PUSH_T0 - PUSH_T0 % (86_400 * SEC)
    end = start + 4 * 86_400 * SEC
    whole = _get(
        server,
        "/loki/api/v1/query_range",
        {
            "query": '{container="api"}',
            "start": str(start),
            "end": str(end),
            "limit": "1000",
            "direction": "backward",
        },
    ).json()["data"]["result"]
    whole_ts = [int(v[0]) for s in whole for v in s["values"]]
    assert len(whole_ts) == 60  # older than 3 h, never missing (unlike Loki before a flush)
    pieces: list[int] = []
    for day in range(3, -1, -1):  # Grafana runs the newest chunk first
        lo, hi = start + day * 86_400 * SEC, start + (day + 1) * 86_400 * SEC
        part = _get(
            server,
            "/loki/api/v1/query_range",
            {
                "query": '{container="api"}',
                "start": str(lo),
                "end": str(hi),
                "limit": "1000",
                "step": "3600000ms",
            },
        ).json()["data"]["result"]
        pieces.extend(int(v[0]) for s in part for v in s["values"])
    assert pieces == whole_ts
    metric = 'sum(count_over_time({container="api"}[1h]))'
    full = _get(
        server,
        "/loki/api/v1/query_range",
        {"query": metric, "start": str(start + 3600 * SEC), "end": str(end), "step": "3600s"},
    ).json()
    total = sum(int(v) for _, v in full["data"]["result"][0]["values"])
    assert total == 60


def test_logfmt_unwrap_panel(server: LiveServer) -> None:
    r = _get(
        server,
        "/loki/api/v1/query",
        {
            "query": 'max_over_time({container="api"} | logfmt | unwrap duration(took) [1d])'
            " by (container)",
            "time": str(PUSH_T0 + 59 * 3600 * SEC),
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["result"][0]["value"][1] == "0.059"


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"query": "{}"}, "at least one regexp or equality matcher"),
        ({"query": '{container="app"'}, "parse error at line 1, col 17"),
        ({"query": '{container="app"}', "limit": "6000"}, "max entries limit per query exceeded"),
        ({"query": '{container="app"}', "limit": "-1"}, "limit must be a positive value"),
        ({"query": '{container="app"}', "start": "yesterday"}, "invalid start parameter"),
        ({"query": '{container="app"}', "end": "1e400"}, "invalid end parameter"),
        (
            {"query": '{container="app"}', "start": "200", "end": "100"},
            "end timestamp must not be before",
        ),
        ({"query": 'rate({a="b"}[1m])', "step": "0"}, "zero or negative query resolution step"),
        (
            {"query": 'rate({a="b"}[1m])', "start": "0", "end": "4000000000", "step": "1"},
            "11,000 points",
        ),
        ({"query": '{container="app"}', "direction": "sideways"}, "invalid direction"),
        ({"query": '{container="app"} |~ "("'}, "invalid regular expression"),
        ({"query": "(" * 10_000}, "parse error"),
        ({}, "query parameter is required"),
    ],
)
def test_hostile_input_is_plain_text_400(
    server: LiveServer, params: dict[str, str], needle: str
) -> None:
    r = _get(server, "/loki/api/v1/query_range", params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert needle in r.text


def test_regex_bombs_are_linear(server: LiveServer) -> None:
    started = time.monotonic()
    for query in ['{container=~"(a*)*b"}', '{container="app"} |~ "(((a+)+)+)+$" |~ "(x+x+)+y"']:
        r = _get(
            server,
            "/loki/api/v1/query_range",
            {"query": query, "start": str(T0 - SEC), "end": str(T0 + 3600 * SEC)},
        )
        assert r.status_code == 200, r.text
    assert time.monotonic() - started < 5


def test_auth_required_plain_text(server: LiveServer) -> None:
    r = httpx.get(server.url + "/loki/api/v1/labels", timeout=10)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("text/plain")
    basic = httpx.get(server.url + "/loki/api/v1/labels", auth=("grafana", TEST_KEY), timeout=10)
    assert basic.status_code == 200
    assert httpx.get(server.url + "/ready", timeout=10).text.strip() == "ready"


def test_optional_endpoints(server: LiveServer) -> None:
    span = {"start": str(T0 - SEC), "end": str(T0 + 3600 * SEC)}
    vol = _get(server, "/loki/api/v1/index/volume", {**span, "query": '{container=~".+"}'}).json()
    assert vol["data"]["resultType"] == "vector"
    assert vol["data"]["result"][0]["metric"] == {"container": "app"}
    vr = _get(
        server,
        "/loki/api/v1/index/volume_range",
        {**span, "query": '{container="app"}', "step": "60s"},
    ).json()
    assert vr["data"]["resultType"] == "matrix"
    dl = _get(server, "/loki/api/v1/detected_labels", {**span, "query": '{container="app"}'}).json()
    assert {"label": "level", "cardinality": 2} in dl["detectedLabels"]
    df = _get(
        server,
        "/loki/api/v1/detected_fields",
        {**span, "query": '{container="app"}', "limit": "1000"},
    ).json()
    status = next(f for f in df["fields"] if f["label"] == "status")
    assert status == {"label": "status", "type": "int", "cardinality": 2, "parsers": ["json"]}
    dv = _get(
        server, "/loki/api/v1/detected_field/status/values", {**span, "query": '{container="app"}'}
    ).json()
    assert set(dv["values"]) == {"200", "500"}
    assert _get(server, "/loki/api/v1/patterns", {**span, "query": '{container="app"}'}).json() == {
        "status": "success",
        "data": [],
    }
    info = _get(server, "/loki/api/v1/status/buildinfo", {}).json()
    assert info["version"].startswith("3.")


def test_websocket_tail_receives_a_pushed_line_within_two_seconds(server: LiveServer) -> None:
    ws_url = server.url.replace("http://", "ws://") + '/loki/api/v1/tail?query={container="live"}'
    with connect(ws_url, additional_headers=AUTH, open_timeout=5) as ws:
        time.sleep(0.3)  # let the tail run its first (empty) poll
        pushed_at = time.monotonic()
        line = f"hello tail {time.time_ns()}"
        threading.Thread(
            target=_push,
            args=(
                server.url,
                [{"stream": {"container": "live"}, "values": [[str(time.time_ns()), line]]}],
            ),
        ).start()
        message = json.loads(ws.recv(timeout=2))
        assert time.monotonic() - pushed_at < 2
    assert message["streams"][0]["stream"]["container"] == "live"
    assert message["streams"][0]["values"][0][1] == line


def test_websocket_tail_rejects_a_bad_key(server: LiveServer) -> None:
    ws_url = server.url.replace("http://", "ws://") + '/loki/api/v1/tail?query={container="live"}'
    with (
        pytest.raises(InvalidStatus, match=r"403"),
        connect(ws_url, additional_headers={"X-API-Key": "wrong"}, open_timeout=5) as ws,
    ):
        ws.recv(timeout=2)


_junk = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "0",
            "-1",
            "1e400",
            "nan",
            "99999999999999999999999",
            "1h",
            "60000ms",
            "0.5",
            "2025-01-01T00:00:00Z",
        ]
    ),
    st.text(max_size=12),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    query=st.one_of(
        st.sampled_from(
            [
                '{container="app"}',
                'sum(rate({container="app"}[5m]))',
                'count_over_time({container="app"}[100000d] offset 100000d)',
                '{container="app"} | json | status > 1e308',
                "vector(1)",
            ]
        ),
        st.text(max_size=30),
    ),
    start=_junk,
    end=_junk,
    step=_junk,
    limit=_junk,
    direction=_junk,
)
def test_random_parameters_never_500(
    server: LiveServer,
    query: str,
    start: str | None,
    end: str | None,
    step: str | None,
    limit: str | None,
    direction: str | None,
) -> None:
    raw = {
        "query": query,
        "start": start,
        "end": end,
        "step": step,
        "limit": limit,
        "direction": direction,
    }
    params = {k: v for k, v in raw.items() if v is not None}
    for path in ("/loki/api/v1/query_range", "/loki/api/v1/query", "/loki/api/v1/labels"):
        r = _get(server, path, params)
        assert r.status_code in (200, 400), (path, params, r.status_code, r.text)
        if r.status_code == 400:
            assert r.headers["content-type"].startswith("text/plain")


def test_structured_metadata_folded_or_categorized(server: LiveServer) -> None:
    ts = PUSH_T0 - 3600 * SEC
    _push(
        server.url,
        [
            {
                "stream": {"container": "meta"},
                "values": [[str(ts), "with metadata", {"trace_id": "t1"}]],
            }
        ],
    )
    params = {"query": '{container="meta"}', "start": str(ts - SEC), "end": str(ts + SEC)}
    plain = _get(server, "/loki/api/v1/query_range", params).json()["data"]["result"]
    assert plain[0]["stream"]["trace_id"] == "t1"
    assert plain[0]["values"] == [[str(ts), "with metadata"]]
    cat = _get(
        server,
        "/loki/api/v1/query_range",
        params,
        {"X-Loki-Response-Encoding-Flags": "categorize-labels"},
    ).json()["data"]["result"]
    assert "trace_id" not in cat[0]["stream"]
    assert cat[0]["values"] == [
        [str(ts), "with metadata", {"structuredMetadata": {"trace_id": "t1"}}]
    ]
    filtered = _get(
        server,
        "/loki/api/v1/query_range",
        {**params, "query": '{container="meta"} | trace_id="t1"'},
    )
    assert len(filtered.json()["data"]["result"]) == 1


def test_detected_fields_of_a_query_with_a_parser(server: LiveServer) -> None:
    span = {"start": str(PUSH_T0 - SEC), "end": str(PUSH_T0 + 60 * 3600 * SEC)}
    q = '{container="api"} | pattern "level=<lvl> msg=<msg> took=<took>"'
    fields = _get(server, "/loki/api/v1/detected_fields", {**span, "query": q}).json()["fields"]
    by_name = {f["label"]: f for f in fields}
    assert set(by_name) == {"lvl", "msg", "took"}
    assert by_name["took"]["type"] == "duration" and by_name["took"]["parsers"] == ["pattern"]
    assert by_name["lvl"]["cardinality"] == 1
