"""The one record every log input becomes (Docker tailer, Loki push). Pure.

DESIGN §4: both ingest paths produce the same thing, a line with its nanosecond timestamp
and its stream labels (``container``, ``stream``, ``level``, plus whatever a Loki client
pushed), so the store and the query engine never care where a line came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.labels import Labels


@dataclass(frozen=True, slots=True)
class LogRecord:
    labels: Labels
    ts_ns: int
    line: str
    # The input exactly as read (a Docker json-file line). "" = the tailer checked that
    # ``compat_loki.docker.rebuild_raw`` gives it back exactly, which keeps ~100 bytes per
    # line off the disk; None = no raw form (pushed lines).
    raw: str | None = None
    # Loki structured metadata (pushed as the third element of a value), in pushed order.
    metadata: tuple[tuple[str, str], ...] = ()
