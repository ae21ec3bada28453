from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.auth import basic_auth_checker, check_api_key, key_matches, presented_secrets
from core.errors import Unauthorized

KEY = "s3cret-key-0123456789abcdef0123456789"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": KEY},
        {"authorization": f"Bearer {KEY}"},
        {"authorization": f"bearer {KEY}"},
        {"authorization": basic("prometheus", KEY)},
        {"authorization": basic("", KEY)},
        {"x-api-key": "wrong", "authorization": f"Bearer {KEY}"},
    ],
)
def test_each_form_is_accepted(headers: dict[str, str]) -> None:
    assert key_matches(KEY, headers)
    check_api_key(KEY, headers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": ""},
        {"x-api-key": KEY[:-1]},
        {"x-api-key": KEY + "x"},
        {"authorization": f"Bearer {KEY[:-1]}"},
        {"authorization": f"Token {KEY}"},
        {"authorization": basic(KEY, "nope")},
        {"authorization": "Basic !!!not-base64"},
        {"authorization": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()},
        {"authorization": "Basic " + base64.b64encode(KEY.encode()).decode()},
    ],
)
def test_wrong_keys_are_rejected(headers: dict[str, str]) -> None:
    assert not key_matches(KEY, headers)
    with pytest.raises(Unauthorized, match="Invalid API key"):
        check_api_key(KEY, headers)


@given(st.dictionaries(st.sampled_from(["x-api-key", "authorization", "other"]), st.text()))
def test_arbitrary_headers_never_crash(headers: dict[str, str]) -> None:
    presented_secrets(headers)
    assert key_matches(KEY, headers) == (KEY in presented_secrets(headers))


def test_ui_basic_auth() -> None:
    check = basic_auth_checker("admin", "pw")
    assert check({"authorization": basic("admin", "pw")})
    assert not check({"authorization": basic("admin", "nope")})
    assert not check({"authorization": basic("root", "pw")})
    assert not check({})
    assert not check({"authorization": "Basic %%%"})
