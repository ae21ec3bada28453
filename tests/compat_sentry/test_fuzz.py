"""Mutated real SDK bodies through the whole app: 200 or a 4xx, never a 500, never a hang."""

from __future__ import annotations

import random

from starlette.testclient import TestClient

from tests.compat_sentry.conftest import FIXTURE_KEY, decoded, fixture_names, groups
from tests.compat_sentry.test_protection import assert_next_good_request_works

AUTH = {"X-Sentry-Auth": f"Sentry sentry_key={FIXTURE_KEY}, sentry_version=7"}


def mutate(body: bytes, rnd: random.Random) -> bytes:
    data = bytearray(body)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.random()
        at = rnd.randrange(len(data) + 1)
        if op < 0.3 and data:
            data[min(at, len(data) - 1)] = rnd.randrange(256)
        elif op < 0.5:
            del data[at : at + rnd.randint(1, 50)]
        elif op < 0.7:
            data[at:at] = rnd.choice([b"\n", b"{", b"}", b'"', b"\\u", b"\\ud800", b"null", b"[]"])
        elif op < 0.85:
            del data[at:]
        else:
            data[at:at] = data[rnd.randrange(len(data) or 1) :][:100]
    return bytes(data)


def test_mutated_fixture_bodies_never_500(client: TestClient) -> None:
    rnd = random.Random(20261125)
    statuses: dict[int, int] = {}
    for name in fixture_names():
        body = decoded(name)
        path = "/api/4242/store/" if name.startswith("store-") else "/api/4242/envelope/"
        for _ in range(25):
            response = client.post(path, content=mutate(body, rnd), headers=AUTH)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (name, response.text)
    assert statuses.get(200, 0) > 0 and sum(v for k, v in statuses.items() if k >= 400) > 0
    assert_next_good_request_works(client)
    assert groups(client, project="fixtures")
    for group in groups(client, project="fixtures", resolved="false"):
        assert client.get(f"/errors/{group['id']}").status_code == 200
