"""Sentry credentials rules A1-A3 (pure parts)."""

from __future__ import annotations

import pytest

from compat_sentry.protocol.auth import find_credentials, parse_auth_header, parse_dsn
from core.errors import Unauthorized

KEY = "0f3e4c9a1b2d4e5f8a7b6c5d4e3f2a1b"


def test_header_form_a1() -> None:
    value = f"Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.75.0"
    assert parse_auth_header(value)["sentry_client"] == "sentry.python/2.75.0"
    auth = find_credentials({"x-sentry-auth": value}, {}, None)
    assert (auth.public_key, auth.project_id, auth.source) == (KEY, None, "x-sentry-auth")
    auth = find_credentials({"authorization": f"Sentry sentry_key={KEY}"}, {}, None)
    assert auth.public_key == KEY


def test_query_form_a2() -> None:
    auth = find_credentials({}, {"sentry_key": KEY, "sentry_version": "7"}, None)
    assert auth.source == "query string"


def test_dsn_form_a3() -> None:
    assert parse_dsn(f"https://{KEY}@o1.example.com/4242") == (KEY, 4242)
    auth = find_credentials({}, {}, f"http://{KEY}@127.0.0.1:5010/4242")
    assert (auth.public_key, auth.project_id) == (KEY, 4242)


@pytest.mark.parametrize(
    ("headers", "query", "dsn", "message"),
    [
        ({}, {}, None, "missing authorization"),
        ({"x-sentry-auth": "Sentry sentry_key=short"}, {}, None, "invalid sentry_key"),
        ({}, {"sentry_key": "zz" * 16}, None, "invalid sentry_key"),
        ({}, {}, "http://host/notanumber", "not a valid DSN"),
        ({"authorization": "Bearer x"}, {}, None, "missing authorization"),
    ],
)
def test_refusals(headers: dict, query: dict, dsn: str | None, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        find_credentials(headers, query, dsn)
