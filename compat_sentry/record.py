"""The one record every ingest path produces (native POST, Sentry envelope, Sentry store).

Pure data, no I/O: ``protocol/event.py`` builds it, ``grouping`` fingerprints it,
``store.record_event`` writes it. Keeping a single record is what makes the same bug,
reported natively and through the SDK, land in one group.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


@dataclass
class ErrorRecord:
    """One occurrence, already validated and sized to the SPEC §4.3.1 columns."""

    project: str
    exception_type: str
    message: str
    traceback: str
    event_id: bytes
    payload: bytes
    """The full event as JSON bytes (the SDK's own bytes, or the native body)."""
    environment: str = "prod"
    request_url: str | None = None
    request_method: str | None = None
    request_headers: dict[str, Any] | None = None
    user_id: str | None = None
    extra: dict[str, Any] | None = None
    level: str = "error"
    release: str | None = None
    fingerprint: str = ""
    source: str = "native"
    """``native``, ``envelope`` or ``store``: which path the record came from."""
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # JSON may carry lone surrogates ("\\ud800"), which json.loads turns into str that
        # SQLite cannot encode as UTF-8: without this, such an event would be a 500.
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str) and not value.isascii():
                setattr(self, name, utf8_safe(value))


_TEXT_FIELDS = (
    "project",
    "exception_type",
    "message",
    "traceback",
    "environment",
    "request_url",
    "request_method",
    "user_id",
    "level",
    "release",
)


def utf8_safe(value: str) -> str:
    """``value`` with any lone surrogate replaced by U+FFFD."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def clip(value: str | None, limit: int) -> str | None:
    """SPEC §4.3.1 column widths for fields that identify nothing (URL, method, user)."""
    if value is None:
        return None
    return value if len(value) <= limit else value[:limit]


def loads_stored(data: bytes) -> Any:
    """JSON we stored, read back without lone surrogates (``\\ud800`` → U+FFFD).

    Ingest keeps the client's bytes as they are; a lone surrogate escape in them would
    become a ``str`` that no response can encode, so reads replace it.
    """
    if b"\\u" in data:
        data = _LONE_SURROGATE.sub(rb"\\ufffd", data)
    return json.loads(data)
