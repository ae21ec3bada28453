"""SPEC §5.5 native API over HTTP: filters, pagination, forgiving search, SSE tail, stats."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from compat_loki.records import LogRecord
from compat_loki.service import create_app
from compat_loki.settings import LogsSettings
from compat_loki.store import insert_entries
from core.context import ServiceContext
from core.labels import Labels
from tests.conftest import LiveServer

T0 = 1_737_646_200_000_000_000  # 2025-01-23T15:30:00Z
SEC = 1_000_000_000


def labels(container: str, level: str, stream: str = "stdout") -> Labels:
    return Labels({"container": container, "level": level, "stream": stream})


def load(ctx: ServiceContext, records: list[LogRecord]) -> None:
    ctx.writer.run_sync(lambda c: insert_entries(c, records), timeout=30)


@pytest.fixture
def loaded(loki_app: tuple[TestClient, ServiceContext]) -> TestClient:
    client, ctx = loki_app
    recs = []
    for i in range(60):
        level = "ERROR" if i % 10 == 0 else "INFO"
        text = (
            f"payment {i} failed: connection timeout" if level == "ERROR" else f"GET /api/{i} 200"
        )
        recs.append(LogRecord(labels("rentl_prod", level), T0 + i * 60 * SEC, text))
    recs += [LogRecord(labels("rentl_dev", "DEBUG"), T0 + i * SEC, f"debug {i}") for i in range(5)]
    load(ctx, recs)
    return client


def test_logs_newest_first_with_total_and_pages(loaded: TestClient) -> None:
    body = loaded.get("/api/logs", params={"limit": 10}).json()
    assert body["total"] == 65 and body["limit"] == 10 and body["offset"] == 0
    stamps = [log["timestamp"] for log in body["logs"]]
    assert stamps == sorted(stamps, reverse=True)
    first = body["logs"][0]
    assert first["timestamp"] == "2025-01-23T16:29:00.000000Z"
    assert set(first) >= {"id", "timestamp", "container", "stream", "level", "message"}
    page2 = loaded.get("/api/logs", params={"limit": 10, "offset": 10}).json()["logs"]
    assert page2[0]["timestamp"] < stamps[-1] or page2[0]["id"] != body["logs"][-1]["id"]
    everything = loaded.get("/api/logs", params={"limit": 1000}).json()
    assert everything["limit"] == 500 and len(everything["logs"]) == 65


def test_filters(loaded: TestClient) -> None:
    def get(**params: Any) -> dict[str, Any]:
        res = loaded.get("/api/logs", params=params)
        assert res.status_code == 200, res.text
        return dict(res.json())

    assert get(container="rentl_dev")["total"] == 5
    assert get(level="ERROR")["total"] == 6
    assert get(level="error", container="rentl_prod", search="TIMEOUT")["total"] == 6
    assert (
        get(search="payment 10 ")["logs"][0]["message"] == "payment 10 failed: connection timeout"
    )
    assert get(since="2025-01-23T16:00:00Z", until="2025-01-23T16:09:59Z")["total"] == 10
    assert get(since="2025-01-23T16:00:00+00:00", container="rentl_dev")["total"] == 0
    assert get(level="nonsense")["total"] == 0
    bad = loaded.get("/api/logs", params={"since": "last tuesday"})
    assert bad.status_code == 400 and "since" in bad.json()["detail"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.text(max_size=30),
        st.sampled_from(
            [
                '"',
                '"unbalanced',
                "a AND b",
                "NOT",
                "*",
                "time*",
                "(",
                "((x)",
                ")",
                "a OR",
                "col:value",
                "NEAR(a b)",
                "'; DROP TABLE entries; --",
                "%",
                "_",
                "\\",
                "^x",
                "😀 ünïcode",
                "\x00",
                "timeout)",
                '"timeout"',
            ]
        ),
    )
)
def test_any_search_text_is_literal_and_never_500(loaded: TestClient, text: str) -> None:
    res = loaded.get("/api/logs", params={"search": text, "limit": 500})
    assert res.status_code == 200, res.text
    body = res.json()
    everything = loaded.get("/api/logs", params={"limit": 500}).json()["logs"]
    want = [log["id"] for log in everything if text.lower() in log["message"].lower()]
    assert [log["id"] for log in body["logs"]] == want
    assert body["total"] == len(want)


def test_containers_stats_health(loaded: TestClient) -> None:
    assert loaded.get("/api/containers").json() == {
        "containers": [
            {"name": "rentl_dev", "log_count": 5},
            {"name": "rentl_prod", "log_count": 60},
        ]
    }
    stats = loaded.get("/api/stats").json()
    assert stats == {
        "total_logs": 65,
        "oldest_log": "2025-01-23T15:30:00.000000Z",
        "newest_log": "2025-01-23T16:29:00.000000Z",
        "by_level": {"DEBUG": 5, "ERROR": 6, "INFO": 54},
        "by_container": {"rentl_dev": 5, "rentl_prod": 60},
    }
    health = loaded.get("/health").json()
    assert health["status"] == "ok" and health["logs_indexed"] == 65
    assert health["last_ingest"].endswith("Z")


def test_empty_store(client: TestClient) -> None:
    assert client.get("/api/logs").json() == {"logs": [], "total": 0, "limit": 100, "offset": 0}
    assert client.get("/api/stats").json()["oldest_log"] is None
    assert client.get("/health").json()["logs_indexed"] == 0
    assert client.get("/health").json()["last_ingest"] is None


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    event: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if event.get("event") == "log":
                yield event["id"], json.loads(event["data"])
            event = {}
        elif not line.startswith(":") and ":" in line:
            key, _, value = line.partition(":")
            event[key] = value.lstrip(" ")


def test_sse_tail_filters_and_resumes(
    make_settings: Callable[..., LogsSettings], tmp_path: Any
) -> None:
    (tmp_path / "containers").mkdir()
    app = create_app(make_settings(LogsSettings, {"LOG_SOURCES": str(tmp_path / "containers")}))
    ctx = ServiceContext.of_app(app)
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as http:
        load(ctx, [LogRecord(labels("app", "INFO"), T0, "before the tail started")])
        got: list[tuple[str, dict[str, Any]]] = []
        with http.stream("GET", "/api/logs/tail", params={"level": "error"}) as res:
            assert res.headers["content-type"].startswith("text/event-stream")
            load(ctx, [LogRecord(labels("app", "INFO"), T0 + 1, "info, filtered out")])
            started = time.monotonic()
            load(ctx, [LogRecord(labels("app", "ERROR"), T0 + 2, "first error")])
            for item in sse_events(res):
                got.append(item)
                if len(got) == 1:
                    assert time.monotonic() - started < 2
                    load(ctx, [LogRecord(labels("app", "ERROR"), T0 + 3, "second error")])
                else:
                    break
        assert [e["message"] for _, e in got] == ["first error", "second error"]
        load(ctx, [LogRecord(labels("app", "ERROR"), T0 + 4, "while disconnected")])
        headers = {"Last-Event-ID": got[0][0]}
        with http.stream(
            "GET", "/api/logs/tail", params={"level": "ERROR"}, headers=headers
        ) as res:
            resumed = []
            for _, e in sse_events(res):
                resumed.append(e["message"])
                if len(resumed) == 2:
                    break
        assert resumed == ["second error", "while disconnected"]
        assert http.get("/api/logs/tail", headers={"Last-Event-ID": "x"}).status_code == 400
