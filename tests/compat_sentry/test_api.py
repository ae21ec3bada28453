"""SPEC §4.4 native API: bodies, statuses, filters, pagination, resolve/reopen, retention."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from compat_sentry import store
from tests.compat_sentry.conftest import AUTH, groups
from tests.compat_sentry.test_grouping import SPEC_TRACEBACK


def native(**fields: Any) -> dict[str, Any]:
    body = {
        "project": "flowrent",
        "exception_type": "ValueError",
        "message": "invalid input",
        "traceback": SPEC_TRACEBACK,
    }
    body.update(fields)
    return body


def post(client: TestClient, body: Any, **kw: Any) -> Any:
    return client.post("/api/errors", json=body, headers=AUTH, **kw)


def test_created_then_incremented(client: TestClient) -> None:
    first = post(client, native(request_url="/api/bookings", request_method="POST"))
    assert first.status_code == 201
    assert first.json() == {
        "status": "created",
        "id": first.json()["id"],
        "fingerprint": hashlib.md5(
            b"flowrent:ValueError:/app/app/utils/validation.py:56"
        ).hexdigest(),
    }
    second = post(client, native(message="other text, same place"))
    assert second.status_code == 200
    assert second.json() == {"status": "incremented", "id": first.json()["id"], "count": 2}


def test_invalid_api_key(client: TestClient) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = client.post("/api/errors", json=native(), headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid API key"}
    assert client.get("/api/errors").status_code == 401
    assert client.get("/api/projects").json() == {"detail": "Invalid API key"}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (native(project="p" * 101), "project"),
        (native(project=""), "project"),
        (native(exception_type="E" * 201), "exception_type"),
        ({k: v for k, v in native().items() if k != "traceback"}, "traceback"),
        (native(message=42), "message"),
        (native(extra=[1, 2]), "extra"),
        (native(request_headers="x"), "request_headers"),
        (native(environment="e" * 21), "environment"),
        ([1, 2], "JSON object"),
    ],
)
def test_field_limits_and_types(client: TestClient, body: Any, where: str) -> None:
    response = post(client, body)
    assert response.status_code == 400, response.text
    assert where in response.json()["detail"]
    assert post(client, native()).status_code == 201  # the next good request succeeds


def test_optional_columns_are_clipped_not_refused(client: TestClient) -> None:
    response = post(
        client, native(request_url="/x" * 400, user_id=123, request_method="PROPFIND!!!")
    )
    assert response.status_code == 201
    detail = client.get(f"/api/errors/{response.json()['id']}", headers=AUTH).json()
    assert len(detail["request_url"]) == 500
    assert detail["user_id"] == "123"
    assert detail["request_method"] == "PROPFIND!!"


def test_detail_has_spec_fields(client: TestClient) -> None:
    body = native(
        environment="staging",
        request_url="/api/bookings",
        request_method="POST",
        request_headers={"User-Agent": "x"},
        user_id="123",
        extra={"booking_id": 456},
    )
    error_id = post(client, body).json()["id"]
    detail = client.get(f"/api/errors/{error_id}", headers=AUTH).json()
    assert set(detail) == {
        "id", "fingerprint", "project", "environment", "exception_type", "message",
        "traceback", "request_url", "request_method", "request_headers", "user_id", "extra",
        "count", "first_seen", "last_seen", "resolved", "resolved_at",
    }  # fmt: skip
    assert detail["extra"] == {"booking_id": 456}
    assert detail["request_headers"] == {"User-Agent": "x"}
    assert detail["environment"] == "staging"
    assert detail["resolved"] is False and detail["resolved_at"] is None
    assert detail["first_seen"].endswith("Z") and len(detail["first_seen"]) == 20
    assert client.get("/api/errors/999", headers=AUTH).status_code == 404


def test_list_filters_pagination_total(client: TestClient) -> None:
    for i in range(5):
        post(client, native(traceback=f'File "/app/a.py", line {i}, in f', environment="prod"))
    for i in range(3):
        post(client, native(project="other", traceback=f'File "/app/b.py", line {i}, in f'))
    post(client, native(environment="dev", exception_type="KeyError"))
    listing = client.get("/api/errors", params={"limit": 2}, headers=AUTH).json()
    assert listing["total"] == 9 and listing["limit"] == 2 and listing["offset"] == 0
    assert len(listing["errors"]) == 2
    assert set(listing["errors"][0]) == {
        "id", "fingerprint", "project", "environment", "exception_type", "message",
        "request_url", "count", "first_seen", "last_seen", "resolved",
    }  # fmt: skip
    page = client.get("/api/errors", params={"limit": 4, "offset": 8}, headers=AUTH).json()
    assert len(page["errors"]) == 1
    assert len(groups(client, project="other")) == 3
    assert [g["exception_type"] for g in groups(client, environment="dev")] == ["KeyError"]
    assert len(groups(client, q="keyerr")) == 1
    assert client.get("/api/errors", params={"limit": 999}, headers=AUTH).json()["limit"] == 200
    assert client.get("/api/errors", params={"limit": 0}, headers=AUTH).status_code == 400
    assert client.get("/api/errors", params={"resolved": "maybe"}, headers=AUTH).status_code == 400
    projects = client.get("/api/projects", headers=AUTH).json()
    assert projects == {"projects": ["fixtures", "flowrent", "other"]}


def test_sort_by_count(client: TestClient) -> None:
    post(client, native(traceback='File "/app/one.py", line 1, in f'))
    for _ in range(3):
        post(client, native(traceback='File "/app/three.py", line 1, in f'))
    by_count = groups(client, sort="count")
    assert [g["count"] for g in by_count] == [3, 1]


def test_resolve_reopen_and_regression(client: TestClient) -> None:
    error_id = post(client, native()).json()["id"]
    response = client.post(f"/api/errors/{error_id}/resolve", headers=AUTH)
    assert response.json() == {"status": "resolved", "id": error_id}
    assert groups(client) == []
    resolved = groups(client, resolved="true")
    assert resolved[0]["resolved"] is True
    assert client.get(f"/api/errors/{error_id}", headers=AUTH).json()["resolved_at"]
    # ET-031: the same fingerprint again reopens the group.
    again = post(client, native())
    assert again.json() == {"status": "incremented", "id": error_id, "count": 2}
    assert groups(client)[0]["resolved"] is False
    client.post(f"/api/errors/{error_id}/resolve", headers=AUTH)
    reopened = client.post(f"/api/errors/{error_id}/reopen", headers=AUTH)
    assert reopened.json() == {"status": "reopened", "id": error_id}
    assert client.post("/api/errors/12345/resolve", headers=AUTH).status_code == 404


def test_events_endpoint_keeps_newest_n(make_client: Callable[..., TestClient]) -> None:
    client = make_client(events_per_group=5)
    for i in range(40):
        post(client, native(extra={"i": i}))
    group = groups(client)[0]
    assert group["count"] == 40
    events = client.get(f"/api/errors/{group['id']}/events", headers=AUTH).json()
    assert events["total"] == 5
    assert [e["event"]["extra"]["i"] for e in events["events"]] == [39, 38, 37, 36, 35]
    ctx = client.app.state.ctx
    with ctx.db.read() as conn:
        assert store.count_events(conn, group["id"]) < 5 + store.TRIM_EVERY


def test_retention_deletes_old_resolved_groups_and_events(client: TestClient) -> None:
    old = post(client, native()).json()["id"]
    recent = post(client, native(traceback='File "/app/x.py", line 1, in f')).json()["id"]
    open_one = post(client, native(traceback='File "/app/y.py", line 1, in f')).json()["id"]
    ctx = client.app.state.ctx
    long_ago = time.time() - 91 * 86400
    ctx.writer.run_sync(lambda conn: store.resolve(conn, old, long_ago))
    ctx.writer.run_sync(lambda conn: store.resolve(conn, recent, time.time()))
    from compat_sentry.service import _retention

    _retention(ctx, client.app.state.ctx.extra["ingest"].settings)
    assert client.get(f"/api/errors/{old}", headers=AUTH).status_code == 404
    assert client.get(f"/api/errors/{recent}", headers=AUTH).status_code == 200
    assert client.get(f"/api/errors/{open_one}", headers=AUTH).status_code == 200
    with ctx.db.read() as conn:
        assert store.count_events(conn, old) == 0
        assert store.count_events(conn, recent) == 1


def test_health_has_real_figures(client: TestClient) -> None:
    post(client, native())
    post(client, native())
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert (health["groups"], health["occurrences"], health["unresolved"]) == (1, 2, 1)
    assert health["db_bytes"] > 0


def test_environment_filter_finds_a_group_in_every_environment_it_occurred(
    client: TestClient,
) -> None:
    first = post(client, native(environment="dev")).json()
    post(client, native(environment="prod"))
    assert [g["id"] for g in groups(client, environment="prod")] == [first["id"]]
    assert [g["id"] for g in groups(client, environment="dev")] == [first["id"]]
    assert groups(client, environment="staging") == []
    # The SPEC's environment field is the first occurrence's.
    assert groups(client, environment="prod")[0]["environment"] == "dev"


@pytest.mark.parametrize(
    "url",
    [
        "/api/errors/100000000000000000000",
        "/api/errors/100000000000000000000/events",
        "/api/errors?offset=100000000000000000000",
        "/api/errors/1/events?offset=100000000000000000000",
        "/errors/100000000000000000000",
        "/errors?page=100000000000000000000",
        "/errors/1?event=100000000000000000000",
    ],
)
def test_numbers_sqlite_cannot_hold_are_400(client: TestClient, url: str) -> None:
    response = client.get(url, headers=AUTH)
    assert response.status_code == 400, response.text
    resolve = client.post("/api/errors/100000000000000000000/resolve", headers=AUTH)
    assert resolve.status_code == 400
