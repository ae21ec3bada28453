"""The one record every ingest path produces (native POST, Sentry envelope, Sentry store).

Pure data, no I/O: ``protocol/event.py`` builds it, ``grouping`` fingerprints it,
``store.record_event`` writes it. Keeping a single record is what makes the same bug,
reported natively and through the SDK, land in one group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


def clip(value: str | None, limit: int) -> str | None:
    """SPEC §4.3.1 column widths for fields that identify nothing (URL, method, user)."""
    if value is None:
        return None
    return value if len(value) <= limit else value[:limit]
