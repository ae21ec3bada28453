"""Sentry ingest credentials: who is sending, for which project. Pure.

Sentry accepts the public key in three places (https://develop.sentry.dev/sdk/overview/
#authentication), tried here in this order:

A1. ``X-Sentry-Auth: Sentry sentry_key=<key>, sentry_version=7, sentry_client=...``
    (what sentry-python sends; some SDKs put the same value in ``Authorization``).
A2. Query parameters ``?sentry_key=<key>&sentry_version=7`` (browser SDKs, which cannot
    set custom headers on ``sendBeacon`` / no-preflight requests).
A3. The envelope header's ``dsn`` (``https://<key>@host/<project_id>``), the tunnel form.

A secret key (``sentry_secret``, long deprecated) is ignored, as Sentry does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import Unauthorized

_KEY = re.compile(r"^[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class SentryAuth:
    public_key: str
    project_id: int | None
    """Only the DSN form names a project; it must match the URL's."""
    source: str


def parse_auth_header(value: str) -> dict[str, str]:
    """``Sentry a=1, b=2`` → ``{"a": "1", "b": "2"}`` (the ``Sentry`` prefix is optional)."""
    text = value.strip()
    if text[:7].lower() == "sentry ":
        text = text[7:]
    pairs: dict[str, str] = {}
    for part in text.split(","):
        name, sep, val = part.strip().partition("=")
        if sep and name.strip():
            pairs[name.strip().lower()] = val.strip()
    return pairs


def parse_dsn(dsn: str) -> tuple[str, int]:
    """``http://<key>@host/<project_id>`` → (key, project id)."""
    try:
        parts = urlsplit(dsn)
        key = parts.username or ""
        project = parts.path.rstrip("/").rsplit("/", 1)[-1]
        return key, int(project)
    except ValueError:
        raise Unauthorized("the envelope's dsn is not a valid DSN") from None


def _checked(key: str, source: str, project_id: int | None = None) -> SentryAuth:
    if not _KEY.match(key):
        raise Unauthorized(f"invalid sentry_key in {source}")
    return SentryAuth(key.lower(), project_id, source)


def find_credentials(
    headers: Mapping[str, str], query: Mapping[str, str], envelope_dsn: str | None
) -> SentryAuth:
    """Rules A1-A3; 401 when no key is given or the key is malformed."""
    for name in ("x-sentry-auth", "authorization"):
        value = headers.get(name)
        if value and (name == "x-sentry-auth" or value.lower().startswith("sentry ")):
            key = parse_auth_header(value).get("sentry_key")
            if key:
                return _checked(key, name)
    if query.get("sentry_key"):
        return _checked(query["sentry_key"], "query string")
    if envelope_dsn:
        key, project_id = parse_dsn(envelope_dsn)
        return _checked(key, "envelope dsn", project_id)
    raise Unauthorized("missing authorization information")
