"""API-key checks shared by the services, in every form our clients can send a secret.

SPEC §4.4 names ``X-API-Key``; Prometheus ``remote_write``, Grafana data sources, Promtail
and Loki logging clients can only send ``Authorization: Bearer <key>`` or basic auth, so the
key is also accepted as a bearer token or as the basic-auth password (any user name).
Comparison is constant-time (``hmac.compare_digest``) so the key cannot be guessed byte by
byte from response times.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Mapping

from core.errors import Unauthorized


def presented_secrets(headers: Mapping[str, str]) -> list[str]:
    """Every secret a request carries: X-API-Key, bearer token, basic-auth password."""
    found: list[str] = []
    key = headers.get("x-api-key")
    if key:
        found.append(key.strip())
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value:
        found.append(value.strip())
    elif scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        _, sep, password = decoded.partition(":")
        if sep:
            found.append(password)
    return found


def key_matches(expected: str, headers: Mapping[str, str]) -> bool:
    want = expected.encode()
    ok = False
    for secret in presented_secrets(headers):
        # No early exit: the work done does not depend on which form matched.
        ok |= hmac.compare_digest(secret.encode(), want)
    return ok


def check_api_key(
    expected: str, headers: Mapping[str, str], message: str = "Invalid API key"
) -> None:
    if not key_matches(expected, headers):
        raise Unauthorized(message, headers={"WWW-Authenticate": 'Bearer realm="flowmon"'})


def basic_auth_checker(username: str, password: str) -> Callable[[Mapping[str, str]], bool]:
    """A check for the optional UI login (``UI_USERNAME``/``UI_PASSWORD``)."""
    want = f"{username}:{password}".encode()

    def check(headers: Mapping[str, str]) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            got = base64.b64decode(value.strip(), validate=True)
        except binascii.Error:
            return False
        return hmac.compare_digest(got, want)

    return check
