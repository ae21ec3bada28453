"""Loki push over HTTP: every captured client fixture, encodings, errors, partial acceptance."""

from __future__ import annotations

import base64
import gzip
import json
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import snappy
from starlette.testclient import TestClient

from compat_loki.protocol.proto import push_pb2
from compat_loki.service import create_app
from compat_loki.settings import LogsSettings
from tests.conftest import SHARED, TEST_KEY, in_process

FIXTURES = SHARED / "fixtures" / "loki-push"
NAMES = sorted(p.name.removesuffix(".body") for p in FIXTURES.glob("*.body"))
KEY = {"X-API-Key": TEST_KEY}
BASIC = {"Authorization": "Basic " + base64.b64encode(f"tenant1:{TEST_KEY}".encode()).decode()}


def expected_lines(name: str) -> list[str]:
    """The lines a fixture carries, read with json / the protobuf module, not our decoder."""
    body = (FIXTURES / f"{name}.body").read_bytes()
    meta = json.loads((FIXTURES / f"{name}.headers.json").read_text())
    ctype = dict((k.lower(), v) for k, v in meta["headers"]).get("content-type", "")
    if "json" in ctype:
        doc = json.loads(body)
        out = []
        for s in doc["streams"]:
            out += [e["line"] for e in s.get("entries", [])]
            out += [v[1] for v in s.get("values", [])]
        return out
    req = push_pb2.PushRequest()
    req.ParseFromString(snappy.uncompress(body))
    return [e.line for s in req.streams for e in s.entries]


def send(client: TestClient, name: str, auth: dict[str, str]) -> Any:
    body = (FIXTURES / f"{name}.body").read_bytes()
    meta = json.loads((FIXTURES / f"{name}.headers.json").read_text())
    headers = {
        k: v
        for k, v in meta["headers"]
        if k.lower() not in ("host", "content-length", "authorization", "connection")
    }
    return client.post(meta["path"], content=body, headers={**headers, **auth})


@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_is_accepted_and_its_lines_found(client: TestClient, name: str) -> None:
    assert len(NAMES) == 8
    res = send(client, name, BASIC)  # the clients' basic auth, with our key as password
    assert res.status_code == 204, res.text
    assert res.content == b""
    for line in expected_lines(name):
        found = client.get("/api/logs", params={"search": line[:60], "limit": 500}).json()
        assert line in [log["message"] for log in found["logs"]], line


def test_fixture_labels_and_metadata_are_kept(client: TestClient) -> None:
    assert send(client, "winston-loki-json-structured-metadata", KEY).status_code == 204
    assert send(client, "python-logging-loki-v1-info", KEY).status_code == 204
    logs = client.get("/api/logs", params={"search": "user 42 logged in"}).json()["logs"]
    winston = next(log for log in logs if log["labels"].get("app") == "fixture-app")
    assert winston["metadata"] == {"user_id": "42", "level": "info"}
    assert winston["level"] == "INFO" and winston["container"] == "fixture-app"
    assert winston["raw"] is None  # only tailed Docker lines have a raw form
    py = next(log for log in logs if log["labels"].get("logger"))
    assert py["labels"]["severity"] == "info" and py["labels"]["level"] == "INFO"


def test_push_needs_the_key(module_client: TestClient) -> None:
    res = send(
        module_client,
        "python-logging-loki-v1-info",
        {"Authorization": "Basic dGVuYW50MTpzM2NyZXQ="},
    )
    assert res.status_code == 401
    assert res.headers["content-type"].startswith("text/plain")


def _json(lines: list[tuple[str, str]], **labels: str) -> bytes:
    return json.dumps(
        {"streams": [{"stream": labels, "values": [list(v) for v in lines]}]}
    ).encode()


def test_gzip_deflate_snappy_encodings(client: TestClient) -> None:
    now = str(time.time_ns())
    body = _json([(now, "gzip line")], app="enc")
    gz = client.post(
        "/loki/api/v1/push",
        content=gzip.compress(body),
        headers={**KEY, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert gz.status_code == 204
    body = _json([(now, "deflate line")], app="enc")
    df = client.post(
        "/loki/api/v1/push",
        content=zlib.compress(body),
        headers={**KEY, "Content-Type": "application/json", "Content-Encoding": "deflate"},
    )
    assert df.status_code == 204
    req = push_pb2.PushRequest()
    s = req.streams.add(labels='{app="enc", env="t"}')
    e = s.entries.add(line="proto line")
    e.timestamp.seconds, e.timestamp.nanos = divmod(time.time_ns(), 1_000_000_000)
    e.structuredMetadata.add(name="trace_id", value="abc")
    pb = client.post(
        "/loki/api/v1/push",
        content=snappy.compress(req.SerializeToString()),
        headers={**KEY, "Content-Encoding": "snappy"},
    )
    assert pb.status_code == 204, pb.text
    logs = client.get("/api/logs", params={"container": "enc"}).json()["logs"]
    assert {log["message"] for log in logs} == {"gzip line", "deflate line", "proto line"}
    assert next(log for log in logs if log["message"] == "proto line")["metadata"] == {
        "trace_id": "abc"
    }


@pytest.mark.parametrize(
    ("body", "headers", "status", "text"),
    [
        (
            b'{"streams": [{"stream": {',
            {"Content-Type": "application/json"},
            400,
            "loghttp.PushRequest",
        ),
        (
            b'{"streams": []}',
            {"Content-Type": "application/json"},
            422,
            "at least one valid stream",
        ),
        (
            b'{"streams":[{"stream":{"a":"b"},"values":[[1700000000000000000,"x"]]}]}',
            {"Content-Type": "application/json"},
            400,
            "Number",
        ),
        (b'{"streams": []}', {}, 400, "snappy"),
        (b"\x00", {"Content-Encoding": "br"}, 400, 'Content-Encoding "br" not supported'),
        (
            b'{"streams":[{"labels":"{a=b}","entries":[]}]}',
            {"Content-Type": "application/json"},
            400,
            "invalid labels",
        ),
        (
            gzip.compress(b"x" * 100_000)[:50],
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            400,
            "gzip",
        ),
    ],
)
def test_errors_are_lokis_plain_text(
    module_client: TestClient, body: bytes, headers: dict[str, str], status: int, text: str
) -> None:
    res = module_client.post("/loki/api/v1/push", content=body, headers={**KEY, **headers})
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("text/plain")
    assert text in res.text


def test_gzip_bomb_is_413(module_client: TestClient) -> None:
    bomb = gzip.compress(b"x" * 60_000_000, compresslevel=1)
    res = module_client.post(
        "/loki/api/v1/push",
        content=bomb,
        headers={**KEY, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert res.status_code == 413 and res.headers["content-type"].startswith("text/plain")


def test_partial_acceptance_keeps_good_entries(client: TestClient) -> None:
    now = time.time_ns()
    body = json.dumps(
        {
            "streams": [
                {
                    "stream": {"app": "mix"},
                    "values": [
                        [str(now), "good one"],
                        [str(now), "y" * 300_000],
                        [str(now + 3600 * 10**9), "future"],
                    ],
                },
                {
                    "stream": {f"l{i}": "v" for i in range(16)},
                    "values": [[str(now), "too many labels"]],
                },
                {"stream": {"app": "mix"}, "values": [[str(now + 1), "good two"]]},
            ]
        }
    ).encode()
    res = client.post(
        "/loki/api/v1/push", content=body, headers={**KEY, "Content-Type": "application/json"}
    )
    assert res.status_code == 400
    assert "Max entry size '262144' bytes exceeded" in res.text
    assert "timestamp too new" in res.text and "16 label names; limit 15" in res.text
    assert "total ignored: 3 out of 5" in res.text
    logs = client.get("/api/logs", params={"container": "mix"}).json()["logs"]
    assert [log["message"] for log in logs] == ["good two", "good one"]


def test_timestamps_before_1970_are_rejected_not_a_500(client: TestClient) -> None:
    """A negative timestamp (JSON "-1e20" as text, protobuf negative seconds) once reached
    SQLite and failed the whole request with a 500; it is one rejected entry now."""
    now = time.time_ns()
    req = push_pb2.PushRequest()
    stream = req.streams.add(labels='{app="old"}')
    entry = stream.entries.add(line="negative seconds")
    entry.timestamp.seconds = -5
    stream.entries.add(line="fine").timestamp.seconds = now // 10**9
    res = client.post(
        "/loki/api/v1/push",
        content=snappy.compress(req.SerializeToString()),
        headers={**KEY, "Content-Type": "application/x-protobuf"},
    )
    assert res.status_code == 400 and "timestamp too old: -5000000000" in res.text
    body = _json([("-100000000000000000000", "far past"), (str(now), "also fine")], app="old")
    res = client.post(
        "/loki/api/v1/push", content=body, headers={**KEY, "Content-Type": "application/json"}
    )
    assert res.status_code == 400 and "timestamp too old" in res.text
    assert "total ignored: 1 out of 2" in res.text
    logs = client.get("/api/logs", params={"container": "old"}).json()["logs"]
    assert sorted(log["message"] for log in logs) == ["also fine", "fine"]


def test_legacy_path_and_auth_forms(client: TestClient) -> None:
    now = str(time.time_ns())
    for i, auth in enumerate([KEY, BASIC, {"Authorization": f"Bearer {TEST_KEY}"}]):
        res = client.post(
            "/api/prom/push",
            content=_json([(now, f"auth form {i}")], app="auth"),
            headers={**auth, "Content-Type": "application/json; charset=utf-8"},
        )
        assert res.status_code == 204
    assert client.get("/api/logs", params={"container": "auth"}).json()["total"] == 3


def test_fixture_dir_exists() -> None:
    assert Path(FIXTURES).is_dir()


def test_writer_behind_answers_429_with_retry_after(
    module_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compat_loki import ingest

    monkeypatch.setattr(ingest, "MAX_QUEUE_DEPTH", -1)  # any queue depth is "behind"
    body = _json([(str(time.time_ns()), "x")], app="busy")
    res = module_client.post(
        "/loki/api/v1/push", content=body, headers={**KEY, "Content-Type": "application/json"}
    )
    assert res.status_code == 429 and res.headers["retry-after"] == "1"
    assert res.text.startswith("Ingestion rate limit exceeded")


def test_ring_buffer_holds_max_entries(
    make_settings: Callable[..., LogsSettings], tmp_path: Path
) -> None:
    (tmp_path / "c").mkdir()
    env = {"MAX_ENTRIES": "50", "LOG_SOURCES": str(tmp_path / "c")}
    with in_process(create_app(make_settings(LogsSettings, env))) as client:
        now = time.time_ns()
        for batch in range(3):
            values = [(str(now + batch * 100 + i), f"line {batch * 40 + i}") for i in range(40)]
            res = client.post(
                "/loki/api/v1/push",
                content=_json(values, app="ring"),
                headers={**KEY, "Content-Type": "application/json"},
            )
            assert res.status_code == 204
        body = client.get("/api/logs", params={"limit": 500}).json()
        assert body["total"] == 50
        assert body["logs"][-1]["message"] == "line 70"
        assert client.get("/health").json()["logs_indexed"] == 50


def test_lone_surrogate_and_nul_lines_are_stored(client: TestClient) -> None:
    body = (
        b'{"streams":[{"stream":{"app":"odd"},'
        b'"values":[["%d","half \\ud800 x"],["%d","nul \\u0000 y"]]}]}'
    )
    now = time.time_ns()
    res = client.post(
        "/loki/api/v1/push",
        content=body % (now, now + 1),
        headers={**KEY, "Content-Type": "application/json"},
    )
    assert res.status_code == 204, res.text
    logs = client.get("/api/logs", params={"container": "odd"}).json()["logs"]
    assert [log["message"] for log in logs] == ["nul \x00 y", "half \ufffd x"]
