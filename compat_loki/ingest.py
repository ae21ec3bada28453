"""Loki push → records → the writer; the one path every pushed line takes.

Kept apart from the route so the benchmark and tests can see the rules in one place:
Loki's partial acceptance (good entries are stored, then the bad ones are reported in one
400, as Loki's distributor does), 422 for a push without any stream, 429 when the single
writer is this far behind (clients — Promtail, Alloy, the Docker driver — retry 429, so
back-pressure loses nothing), and the level label the UI and Grafana's log volume need.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from compat_loki import store
from compat_loki.levels import level_of, normalize
from compat_loki.protocol.push import (
    PushStream,
    Rejected,
    decode_json,
    decode_protobuf,
    is_json,
    validate,
)
from compat_loki.records import LogRecord
from compat_loki.settings import LogsSettings
from core.context import ServiceContext
from core.errors import BadRequest, RateLimited, Unprocessable
from core.http import snappy_block_decode
from core.labels import Labels

MAX_QUEUE_DEPTH = 2000  # writer jobs waiting before a push is told to retry (429)


def decode(body: bytes, content_type: str | None, cap: int) -> list[PushStream]:
    """Loki's rule: JSON only when the Content-Type says so, else snappy protobuf."""
    if is_json(content_type):
        return decode_json(body)
    return decode_protobuf(snappy_block_decode(body, cap))


def to_records(streams: Iterable[PushStream]) -> list[LogRecord]:
    """Pushed streams → records; a stream without ``level`` gets one (pushed severity or
    detected from each line), so pushed lines colour and filter like tailed ones."""
    records: list[LogRecord] = []
    for stream in streams:
        base = dict(stream.labels)
        fixed = base.get("level") or normalize(base.get("severity"))
        by_level: dict[str, Labels] = {}
        last: tuple[int, str] | None = None
        for entry in stream.entries:
            if last == (entry.ts_ns, entry.line):
                continue  # Loki drops an exact repeat of the stream's previous entry
            last = (entry.ts_ns, entry.line)
            level = fixed or level_of(entry.line)
            labels = by_level.get(level)
            if labels is None:
                labels = by_level[level] = Labels({**base, "level": level})
            records.append(LogRecord(labels, entry.ts_ns, entry.line, None, entry.metadata))
    return records


async def push(ctx: ServiceContext, body: bytes, content_type: str | None) -> int:
    """Store a push body; returns lines stored. Raises the error Loki would answer."""
    settings = ctx.settings
    assert isinstance(settings, LogsSettings)
    if ctx.writer.queue_depth > MAX_QUEUE_DEPTH:
        ctx.metrics.count_dropped("log_line", "backpressure")
        raise RateLimited(
            "Ingestion rate limit exceeded (the log store's writer is behind), "
            "reduce log volume or retry",
            retry_after=1,
        )
    streams = decode(body, content_type, settings.max_decompressed_bytes)
    if not streams:
        raise Unprocessable("error at least one valid stream is required for ingestion")
    good: list[PushStream] = []
    rejected: list[Rejected] = []
    for item in validate(streams, time.time_ns()):
        (rejected if isinstance(item, Rejected) else good).append(item)  # type: ignore[arg-type]
    records = to_records(good)
    stored = 0
    if records:
        stored = await ctx.writer.run(
            lambda conn: store.insert_entries(conn, records, max_entries=settings.max_entries)
        )
        ctx.metrics.count_ingested("log_line", stored)
    if rejected:
        bad = sum(r.count for r in rejected)
        ctx.metrics.count_dropped("log_line", "invalid", bad)
        total = sum(len(s.entries) for s in streams)
        lines = [r.message for r in rejected[:10]]
        lines.append(f"total ignored: {bad} out of {total}")
        raise BadRequest("\n".join(lines))
    return stored
