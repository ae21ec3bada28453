"""One function per input path (remote-write, native POST), each ending in one writer job.

A request is answered only after the writer committed its job (DESIGN §2: durable before
acknowledged). Label sets are turned into series ids on the request side with a bounded
cache keyed by the label pairs exactly as sent, because building a sorted ``Labels`` and its
fingerprint is the single largest cost per series in a remote-write body.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from compat_prom import maintenance, store
from compat_prom.protocol import native, remote_write
from compat_prom.protocol.remote_write import LabelPairs, SeriesKey, WriteBatch
from compat_prom.settings import MetricsSettings
from core.context import ServiceContext
from core.errors import BadRequest
from core.labels import Labels

_CACHE_MAX = 50_000  # ~0.8 KB per entry: ~40 MB at most


class SeriesCache:
    """Series key as sent (raw label bytes or label pairs) → series id, and id → Labels."""

    def __init__(self) -> None:
        self.ids: dict[SeriesKey, int] = {}
        self.labels: dict[int, Labels] = {}

    def trim(self) -> None:
        """Called between requests only: a request's ``known`` keys must stay known. New
        dicts, not cleared ones: a queued writer job may still read the old ``labels``."""
        if len(self.ids) >= _CACHE_MAX:
            self.ids = {}
            self.labels = {}

    def resolve(self, key: SeriesKey, pairs: LabelPairs) -> tuple[int, Labels]:
        sid = self.ids.get(key)
        if sid is None:
            labels = store.clean_labels(Labels(pairs))
            sid = self.ids[key] = labels.fingerprint()
            self.labels[sid] = labels
        return sid, self.labels[sid]


def cache_of(ctx: ServiceContext) -> SeriesCache:
    cache = ctx.extra.get("series_cache")
    if cache is None:
        cache = ctx.extra["series_cache"] = SeriesCache()
    assert isinstance(cache, SeriesCache)
    return cache


@dataclass
class WriteResult:
    version: int
    samples: int
    rejected: list[str]
    histograms: int
    exemplars: int


Bounds = dict[int, tuple[Labels, int, int]]


def _rows_of(cache: SeriesCache, batch: WriteBatch) -> tuple[Bounds, list[tuple[int, int, int]]]:
    """(series id → (labels, first ts, last ts), rows of (series id, ts, value bits))."""
    series: Bounds = {}
    rows: list[tuple[int, int, int]] = []
    if batch.known_ids:  # the common one-hour case never gets here (``_one_hour_job``)
        sids, stamps, labels_of = batch.known_ids, batch.known_ts, cache.labels
        for sid, at in zip(sids, stamps, strict=True):
            seen = series.get(sid)
            if seen is None:
                series[sid] = (labels_of[sid], at, at)
            elif at < seen[1] or at > seen[2]:
                series[sid] = (seen[0], min(seen[1], at), max(seen[2], at))
        rows = list(zip(sids, stamps, batch.known_bits, strict=True))
    for rec in batch.series:
        sid, labels = cache.resolve(rec.key, rec.labels)
        ts = rec.timestamps
        lo, hi = (ts[0], ts[0]) if len(ts) == 1 else (min(ts), max(ts))
        seen = series.get(sid)
        if seen is not None:
            lo, hi = min(lo, seen[1]), max(hi, seen[2])
        series[sid] = (labels, lo, hi)
        rows.extend(zip([sid] * len(ts), ts, store.to_signed_bits(rec.values), strict=True))
    return series, rows


def _write_job(
    series: Bounds,
    rows: list[tuple[int, int, int]],
    metadata: list[tuple[str, str, str, str]],
) -> store.Job:
    def job(conn: sqlite3.Connection) -> int:
        store.ensure_series_ids(conn, series)
        if metadata:
            store.put_metadata(conn, metadata)
        return store.append_rows(conn, rows, {sid: [lo, hi] for sid, (_, lo, hi) in series.items()})

    return job


def _one_hour_job(
    batch: WriteBatch, labels_of: dict[int, Labels], metadata: list[tuple[str, str, str, str]]
) -> store.Job | None:
    """The steady state: only series seen before, one sample each, all in one hour. The
    series need no per-series bounds (the store keeps them to the hour): the job checks
    the batch's ids as one set. None when the batch is not like that."""
    if batch.series or not batch.known_ids:
        return None
    stamps = batch.known_ts
    lo, hi = min(stamps), max(stamps)
    if lo // store.HOUR_MS != hi // store.HOUR_MS:
        return None
    sids = batch.known_ids
    rows = list(zip(sids, stamps, batch.known_bits, strict=True))
    ids = set(sids)

    def job(conn: sqlite3.Connection) -> int:
        store.ensure_series_ids(
            conn, {sid: (labels_of[sid], lo, hi) for sid in store.unknown_ids(conn, ids)}
        )
        if metadata:
            store.put_metadata(conn, metadata)
        return store.append_rows(conn, rows, uniform=(ids, lo, hi))

    return job


async def remote_write_body(
    ctx: ServiceContext, raw: bytes, content_type: str | None
) -> WriteResult:
    """Decode and store one remote-write request (raw = snappy-decoded protobuf)."""
    cache = cache_of(ctx)
    cache.trim()
    version, batch = remote_write.decode(raw, content_type, cache.ids)  # type: ignore[arg-type]
    job = _one_hour_job(batch, cache.labels, batch.metadata)
    if job is None:
        series, rows = _rows_of(cache, batch)
        if rows or batch.metadata:
            job = _write_job(series, rows, batch.metadata)
    written = await ctx.writer.run(job) if job is not None else 0
    maintenance.note_appended(ctx, written)
    ctx.metrics.count_ingested("sample", written)
    ctx.metrics.count_dropped("sample", "invalid_series", len(batch.rejected))
    ctx.metrics.count_dropped("histogram", "unsupported", batch.histograms)
    ctx.metrics.count_dropped("exemplar", "unsupported", batch.exemplars)
    return WriteResult(version, written, batch.rejected, batch.histograms, batch.exemplars)


def _native_job(
    ops: list[tuple[native.Op, Labels, int, float]], metadata: list[tuple[str, str, str, str]]
) -> store.Job:
    """Counters read and advance their durable running totals in the same transaction."""

    def job(conn: sqlite3.Connection) -> int:
        ids: dict[Labels, int] = {}
        for op, labels, ts, _ in ops:
            if labels not in ids:
                kind = store.KIND_OBSERVATIONS if op == "obs" else store.KIND_SAMPLES
                ids[labels] = store.ensure_series(conn, labels, ts, ts, kind)
        counter_ids = [ids[lb] for op, lb, _, _ in ops if op == "inc"]
        totals = store.get_totals(conn, counter_ids)
        rows: list[tuple[int, int, float]] = []
        observations: list[tuple[int, int, float]] = []
        for op, labels, ts, value in ops:
            sid = ids[labels]
            if op == "obs":
                observations.append((sid, ts, value))
                continue
            if op == "inc":
                value = totals[sid] = totals.get(sid, 0.0) + value
            rows.append((sid, ts, value))
        store.set_totals(conn, {sid: totals[sid] for sid in counter_ids})
        store.add_observations(conn, observations)
        store.put_metadata(conn, metadata)
        signed = store.to_signed_bits([v for _, _, v in rows])
        return store.append_rows(
            conn, [(sid, ts, b) for (sid, ts, _), b in zip(rows, signed, strict=True)]
        )

    return job


async def native_post(ctx: ServiceContext, body: bytes, now_ms: int) -> dict[str, Any]:
    """SPEC §6.5.1: validate per item, store the good ones in one writer job."""
    parsed = native.parse(body, now_ms)
    settings = ctx.settings
    assert isinstance(settings, MetricsSettings)
    if parsed.items:
        ops = native.expand(parsed.items, native.parse_buckets(settings.histogram_buckets))
        await ctx.writer.run(_native_job(ops, native.metadata_of(parsed.items)))
    ctx.metrics.count_ingested("native_metric", len(parsed.items))
    ctx.metrics.count_dropped("native_metric", "invalid", len(parsed.rejected))
    return parsed.response()


def require_body(raw: bytes) -> bytes:
    if not raw:
        raise BadRequest("empty body")
    return raw
