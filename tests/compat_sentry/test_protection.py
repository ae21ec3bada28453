"""Hostile and broken input: a clear 4xx each time, and the next good request still works."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from typing import Any

import brotli
import pytest
import zstandard
from starlette.testclient import TestClient

from tests.compat_sentry.conftest import FIXTURE_KEY, decoded, groups

AUTH_HEADER = {"X-Sentry-Auth": f"Sentry sentry_key={FIXTURE_KEY}, sentry_version=7"}
URL = "/api/4242/envelope/"


def envelope(event: dict[str, Any] | bytes, *, with_length: bool = True) -> bytes:
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    header = {"type": "event"}
    if with_length:
        header["length"] = len(payload)
    return b"{}\n" + json.dumps(header).encode() + b"\n" + payload + b"\n"


def event(n: int = 0, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "exception": {
            "values": [
                {
                    "type": "RuntimeError",
                    "value": f"boom {n}",
                    "stacktrace": {
                        "frames": [{"abs_path": "/app/p.py", "lineno": 10 + n, "in_app": True}]
                    },
                }
            ]
        }
    }
    body.update(fields)
    return body


def send(client: TestClient, body: bytes, **headers: str) -> Any:
    return client.post(URL, content=body, headers={**AUTH_HEADER, **headers})


def assert_next_good_request_works(client: TestClient, n: int = 99) -> None:
    response = send(client, envelope(event(n)))
    assert response.status_code == 200, response.text
    assert any(g["message"] == f"boom {n}" for g in groups(client, project="fixtures"))


def _raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-15)
    return obj.compress(data) + obj.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),
        ("br", brotli.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
        ("identity", lambda b: b),
    ],
)
def test_every_encoding(
    client: TestClient, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    response = send(client, encode(envelope(event(1))), **{"Content-Encoding": encoding})
    assert response.status_code == 200, response.text
    assert groups(client, project="fixtures")[0]["message"] == "boom 1"


def test_chunked_transfer(client: TestClient) -> None:
    body = gzip.compress(envelope(event(2)))
    chunks = iter([body[:10], body[10:100], body[100:]])
    response = client.post(URL, content=chunks, headers={**AUTH_HEADER, "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "headers", "status", "detail"),
    [
        (b"\x1f\x8b\x08garbage", {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
        (gzip.compress(b"{}\n")[:-6], {"Content-Encoding": "gzip"}, 400, "truncated"),
        (b"not brotli", {"Content-Encoding": "br"}, 400, "brotli"),
        (b"{}", {"Content-Encoding": "lzma"}, 400, "unsupported Content-Encoding"),
        (b'{}\n{"type":"event","length":500}\n{"a":1}', {}, 400, "declares 500 bytes"),
        (envelope(b'{"exception": '), {}, 400, "event is not valid JSON"),
        (envelope(b"[1,2]"), {}, 400, "event must be a JSON object"),
        (envelope(event(exception="x")), {}, 400, "event.exception.values"),
        (envelope(event(fingerprint="abc")), {}, 400, "event.fingerprint"),
        (envelope(event(environment=["prod"])), {}, 400, "event.environment"),
        (envelope(event(request={"url": 5})), {}, 400, "event.request.url"),
        (envelope(event(event_id="not-a-uuid")), {}, 400, "is not a UUID"),
        (envelope(event(event_id="\U0001f600\nx")), {}, 400, "is not a UUID"),
        (envelope({"exception": {"values": [{"type": 3}]}}), {}, 400, "type: expected str"),
        (
            envelope(
                {
                    "exception": {
                        "values": [{"type": "E", "stacktrace": {"frames": [{"lineno": "x"}]}}]
                    }
                }
            ),
            {},
            400,
            "lineno: expected int",
        ),
    ],
)
def test_bad_bodies(
    client: TestClient, body: bytes, headers: dict[str, str], status: int, detail: str
) -> None:
    response = send(client, body, **headers)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert_next_good_request_works(client)


def test_ten_thousand_frames(client: TestClient) -> None:
    frames = [{"abs_path": "/app/r.py", "lineno": 1, "in_app": True}] * 10_000
    big = {"exception": {"values": [{"type": "RecursionError", "stacktrace": {"frames": frames}}]}}
    response = send(client, envelope(big))
    assert response.status_code == 413
    assert "10000 frames" in response.json()["detail"]
    assert_next_good_request_works(client)


def test_deeply_nested_extra(client: TestClient) -> None:
    nested: Any = 1
    for _ in range(200):
        nested = {"a": nested}
    response = send(client, envelope(event(extra={"deep": nested})))
    assert response.status_code == 400
    assert "nested deeper" in response.json()["detail"]
    deeper = b'{"extra": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001
    response = send(client, envelope(deeper))
    assert response.status_code == 400
    assert_next_good_request_works(client)


def test_body_caps(client: TestClient) -> None:
    too_big_sent = b"x" * 1_000_001
    assert send(client, too_big_sent).status_code == 413
    bomb = gzip.compress(b"{}\n" + b" " * 21_000_000)
    response = send(client, bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "decompressed" in response.json()["detail"]
    padding = "x" * 1_000_001
    response = send(client, gzip.compress(envelope(event(extra={"p": padding}))),
                    **{"Content-Encoding": "gzip"})  # fmt: skip
    assert response.status_code == 413
    assert "event is larger" in response.json()["detail"]
    assert_next_good_request_works(client)


def test_native_hostile_bodies(client: TestClient) -> None:
    from tests.compat_sentry.conftest import AUTH

    for body in (b"{", b'{"project": ' * 3000, b"\xff\xfe", b""):
        response = client.post("/api/errors", content=body, headers=AUTH)
        assert response.status_code == 400, body[:20]
    response = client.post(
        "/api/errors", content=gzip.compress(b"{}")[:-4],
        headers={**AUTH, "Content-Encoding": "gzip"},
    )  # fmt: skip
    assert response.status_code == 400


def test_unknown_item_types_never_fail(client: TestClient) -> None:
    body = (
        b'{"event_id":"11111111111111111111111111111111"}\n'
        b'{"type":"brand_new_thing","length":3}\n\x00\x01\x02\n'
        b'{"type":"event"}\n' + json.dumps(event(5)).encode()
    )
    response = send(client, body)
    assert response.status_code == 200
    assert response.json() == {"id": "11111111111111111111111111111111"}
    assert groups(client, project="fixtures")[0]["message"] == "boom 5"
    metrics = client.app.state.ctx.metrics.exposition().decode()
    assert 'flowmon_received_items_total{kind="unknown",service="errors"} 1.0' in metrics


def test_query_string_and_dsn_auth(client: TestClient) -> None:
    response = client.post(
        f"{URL}?sentry_key={FIXTURE_KEY}&sentry_version=7", content=envelope(event(6))
    )
    assert response.status_code == 200
    dsn_header = json.dumps({"dsn": f"http://{FIXTURE_KEY}@localhost:5010/4242"}).encode()
    body = dsn_header + envelope(event(7))[2:]
    assert client.post(URL, content=body).status_code == 200
    wrong = json.dumps({"dsn": f"http://{FIXTURE_KEY}@localhost:5010/7"}).encode()
    response = client.post(URL, content=wrong + envelope(event(8))[2:])
    assert response.status_code == 403


def test_cors_preflight(client: TestClient) -> None:
    response = client.options(
        URL,
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-sentry-auth",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "x-sentry-auth" in response.headers["access-control-allow-headers"]
    assert "POST" in response.headers["access-control-allow-methods"]


def test_rate_limit_error_category_only(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_per_minute=3)
    for n in range(3):
        assert send(client, envelope(event(n))).status_code == 200
    response = send(client, envelope(event(9)))
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    limits = response.headers["x-sentry-rate-limits"]
    assert limits.split(":")[1:] == ["error", "project"]
    # Other categories are not limited.
    logs = send(client, decoded("logs"))
    assert logs.status_code == 200
    # A mixed envelope: the session is accepted, the event dropped, the limit announced.
    mixed = envelope(event(10)) + b'{"type":"session"}\n{"sid":"x"}\n'
    response = send(client, mixed)
    assert response.status_code == 200
    assert response.headers["x-sentry-rate-limits"].endswith(":error:project")
    assert all(g["message"] != "boom 10" for g in groups(client, project="fixtures"))
    metrics = client.app.state.ctx.metrics.exposition().decode()
    assert 'flowmon_received_items_total{kind="session",service="errors"} 1.0' in metrics
    from tests.compat_sentry.conftest import AUTH

    native = {"project": "fixtures", "exception_type": "E", "message": "m", "traceback": ""}
    assert client.post("/api/errors", json=native, headers=AUTH).status_code == 429


def test_lone_surrogates_are_stored_and_shown(client: TestClient) -> None:
    """JSON escapes like \\ud800 decode to text SQLite and HTTP cannot encode as UTF-8."""
    from tests.compat_sentry.conftest import AUTH

    body = b'{"project":"p","exception_type":"E","message":"bad \\ud800 text","traceback":"x",'
    body += b'"extra":{"k\\udfff":"\\ud83d\\ude00"}}'
    response = client.post("/api/errors", content=body, headers=AUTH)
    assert response.status_code == 201
    response = send(client, envelope(b'{"message": "lone \\udc00", "tags": {"t": "\\ud800"}}'))
    assert response.status_code == 200
    found = {g["project"]: g for g in groups(client, resolved="false")}
    assert found["p"]["message"] == "bad \ufffd text"
    assert found["fixtures"]["message"] == "lone \ufffd"
    for group in found.values():
        gid = group["id"]
        assert client.get(f"/errors/{gid}").status_code == 200
        assert client.get(f"/api/errors/{gid}", headers=AUTH).status_code == 200
        events = client.get(f"/api/errors/{gid}/events", headers=AUTH)
        assert events.status_code == 200
    extra = client.get(f"/api/errors/{found['p']['id']}", headers=AUTH).json()["extra"]
    assert extra == {"k\ufffd": "\U0001f600"}  # a valid pair stays a valid character
