"""Minute and hour aggregates per series (SPEC §6.6, §6.7) and the job that keeps them.

Per bucket: count, sum, min, max, avg (sum/count), last (and its timestamp), the counter
increase (reset-aware: a drop means the counter restarted from 0, as in PromQL's
``increase``), and for native-histogram observation series p50/p95/p99 plus a ``Sketch``.

* Minute percentiles are exact per SPEC §6.7 (sorted raw observations, position
  ``int(count*q)``).
* Hour percentiles come from the merged minute sketches: within ``sketch.ALPHA`` (0.5 %)
  relative error of the exact value, instead of the SPEC's average of minute percentiles.
* NaN samples (the staleness marker and ordinary NaN) are not data points: they are left out
  of every aggregate.

The job is idempotent: a bucket is always recomputed whole from its sources and written with
INSERT OR REPLACE, a watermark records how far minutes are done, and samples that arrive
for minutes already done mark them dirty (``store._mark_late``) to be recomputed at the next
run. So catching up after downtime never counts anything twice.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from compat_prom import store
from compat_prom.sketch import Sketch, spec_rank
from core.labels import Labels

MINUTE_MS = store.MINUTE_MS
HOUR_MS = store.HOUR_MS
QUANTILES = (0.5, 0.95, 0.99)
LATENESS_MS = 60_000  # a minute is rolled up once it ended this long ago
WINDOW_MS = HOUR_MS  # minutes done per writer job (bounds one job's duration)
DIRTY_BATCH = 120  # late-data minutes recomputed per writer job


@dataclass
class Agg:
    count: int
    sum: float
    min: float
    max: float
    last: float
    last_ms: int
    increase: float | None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    sketch: Sketch | None = None

    def row(self, series_id: int, res: int, bucket: int) -> tuple[object, ...]:
        blob = self.sketch.to_bytes() if self.sketch is not None else None
        return (
            series_id, res, bucket, self.count, self.sum, self.min, self.max, self.last,
            self.last_ms, self.increase, self.p50, self.p95, self.p99, blob,
        )  # fmt: skip


def exact_percentile(sorted_values: Sequence[float], q: float) -> float:
    return sorted_values[spec_rank(len(sorted_values), q)]


def counter_increase(prev: float | None, values: Sequence[float]) -> float:
    total = 0.0
    for v in values:
        if prev is not None:
            total += v - prev if v >= prev else v
        prev = v
    return total


def aggregate(
    timestamps: Sequence[int], values: Sequence[float], prev_last: float | None, observations: bool
) -> Agg | None:
    """One bucket of one series (``timestamps`` ascending, unless observations)."""
    pairs = [(t, v) for t, v in zip(timestamps, values, strict=True) if not math.isnan(v)]
    if not pairs:
        return None
    vals = [v for _, v in pairs]
    last_ms, last = max(pairs, key=lambda p: p[0]) if observations else pairs[-1]
    agg = Agg(len(vals), math.fsum(vals), min(vals), max(vals), last, last_ms, None)
    if observations:
        ordered = sorted(vals)
        agg.p50, agg.p95, agg.p99 = (exact_percentile(ordered, q) for q in QUANTILES)
        agg.sketch = Sketch.of(vals)
    else:
        agg.increase = counter_increase(prev_last, vals)
    return agg


def merge(aggs: Sequence[Agg]) -> Agg:
    """Minute aggregates (oldest first) → their hour."""
    out = Agg(
        sum(a.count for a in aggs),
        math.fsum(a.sum for a in aggs),
        min(a.min for a in aggs),
        max(a.max for a in aggs),
        aggs[-1].last,
        aggs[-1].last_ms,
        None,
    )
    increases = [a.increase for a in aggs if a.increase is not None]
    if increases:
        out.increase = math.fsum(increases)
    sketches = [a.sketch for a in aggs if a.sketch is not None]
    if sketches:
        merged = Sketch()
        for sk in sketches:
            merged.merge(sk)
        out.sketch = merged
        out.p50, out.p95, out.p99 = (merged.quantile(q) for q in QUANTILES)
    return out


def agg_from_row(row: Sequence[object]) -> Agg:
    """A ``store.rollup_rows`` row (count .. sketch) → Agg."""
    count, total, lo, hi, last, last_ms, inc, p50, p95, p99, blob = row
    return Agg(
        int(count),  # type: ignore[call-overload]
        float(total),  # type: ignore[arg-type]
        float(lo),  # type: ignore[arg-type]
        float(hi),  # type: ignore[arg-type]
        float(last) if last is not None else math.nan,  # type: ignore[arg-type]
        int(last_ms),  # type: ignore[call-overload]
        None if inc is None else float(inc),  # type: ignore[arg-type]
        p50,  # type: ignore[arg-type]
        p95,  # type: ignore[arg-type]
        p99,  # type: ignore[arg-type]
        Sketch.from_bytes(blob) if isinstance(blob, bytes) else None,
    )


def rollup_minutes(conn: sqlite3.Connection, start: int, end: int) -> int:
    """Recompute every minute bucket in ``[start, end)`` for every series; returns rows."""
    prev = store.previous_lasts(conn, start)
    rows: list[tuple[object, ...]] = []
    written = 0
    touched: set[int] = set()
    for sid, kind, timestamps, values in store.rollup_sources(conn, start, end):
        obs = kind == store.KIND_OBSERVATIONS
        for bucket, agg in minute_aggs(timestamps, values, prev.get(sid), obs):
            rows.append(agg.row(sid, MINUTE_MS, bucket))
            touched.add(sid)
        if len(rows) >= 5000:
            written += len(rows)
            store.put_rollups(conn, rows)
            rows = []
    store.put_rollups(conn, rows)
    store.pack_minute_lasts(conn, start, end, touched)
    return written + len(rows)


def minute_aggs(
    timestamps: Sequence[int], values: Sequence[float], prev_last: float | None, obs: bool
) -> list[tuple[int, Agg]]:
    """(minute bucket, aggregate) of one series' samples, oldest first."""
    by_minute: dict[int, tuple[list[int], list[float]]] = {}
    for t, v in zip(timestamps, values, strict=True):
        ts_list, v_list = by_minute.setdefault(t // MINUTE_MS * MINUTE_MS, ([], []))
        ts_list.append(t)
        v_list.append(v)
    out: list[tuple[int, Agg]] = []
    last = prev_last
    for bucket in sorted(by_minute):
        agg = aggregate(*by_minute[bucket], last, obs)
        if agg is not None:
            out.append((bucket, agg))
            last = agg.last
    return out


LIVE_MAX_MS = 30 * MINUTE_MS  # at most this much is computed on the fly per read


def live_minutes(
    conn: sqlite3.Connection, series: dict[int, Labels], start: int, end: int
) -> list[store.RollupRow]:
    """Minute rollup rows of ``series`` for the minutes in ``[start, end)`` the job has not
    rolled up yet, computed from the raw samples exactly as the job will (not stored).

    The job rolls a minute up once it ended ``LATENESS_MS`` ago, so without this the SPEC
    views would miss the newest one or two minutes. Bounded to the last ``LIVE_MAX_MS``:
    further behind, the job is catching up and answers soon.
    """
    done = store.get_meta(conn, store.WATERMARK_KEY)
    lo = max(start, end - LIVE_MAX_MS, int(done) if done is not None else start)
    lo = -(-lo // MINUTE_MS) * MINUTE_MS  # the first whole minute not rolled up
    if lo >= end or not series:
        return []
    prev = store.previous_lasts(conn, lo)
    out: list[store.RollupRow] = []
    for sid, kind, timestamps, values in store.rollup_sources(conn, lo, end, set(series)):
        for bucket, agg in minute_aggs(
            timestamps, values, prev.get(sid), kind == store.KIND_OBSERVATIONS
        ):
            out.append(
                store.RollupRow(
                    sid, series[sid], bucket, agg.count, agg.sum, agg.min, agg.max, agg.last,
                    agg.increase, agg.p50, agg.p95, agg.p99,
                    agg.sketch.to_bytes() if agg.sketch is not None else None,
                )
            )  # fmt: skip
    return out


def rollup_hour(conn: sqlite3.Connection, hour: int) -> int:
    rows = [
        merge([agg_from_row(r) for r in minutes]).row(sid, HOUR_MS, hour)
        for sid, minutes in store.minute_rows(conn, hour, hour + HOUR_MS).items()
    ]
    store.put_rollups(conn, rows)
    return len(rows)


def step(conn: sqlite3.Connection, now_ms: int) -> bool:
    """One bounded unit of rollup work (a writer job); returns True when caught up."""
    target = (now_ms - LATENESS_MS) // MINUTE_MS * MINUTE_MS
    done = store.get_meta(conn, store.WATERMARK_KEY)
    if done is None:
        first = store.earliest_data_ms(conn)
        start = target if first is None else min(first // MINUTE_MS * MINUTE_MS, target)
    else:
        start = int(done)
    dirty = store.take_dirty(conn, MINUTE_MS, limit=DIRTY_BATCH)
    for lo, hi in _ranges(dirty):
        rollup_minutes(conn, lo, hi)
    for hour in sorted({m // HOUR_MS * HOUR_MS for m in dirty}):
        if hour + HOUR_MS <= start:
            rollup_hour(conn, hour)
    if start < target:
        end = min(target, (start // WINDOW_MS + 1) * WINDOW_MS)
        rollup_minutes(conn, start, end)
        for hour in range(start // HOUR_MS * HOUR_MS, end // HOUR_MS * HOUR_MS, HOUR_MS):
            if hour + HOUR_MS <= end:
                rollup_hour(conn, hour)
        store.set_meta(conn, store.WATERMARK_KEY, str(end))
        start = end
    return start >= target and len(dirty) < DIRTY_BATCH


def _ranges(minutes: list[int]) -> list[tuple[int, int]]:
    """Sorted minute starts → contiguous ``[lo, hi)`` ranges: a backfill dirties long runs of
    minutes, and each ``rollup_minutes`` call decodes the chunks it touches once."""
    out: list[tuple[int, int]] = []
    for m in minutes:
        if out and out[-1][1] == m:
            out[-1] = (out[-1][0], m + MINUTE_MS)
        else:
            out.append((m, m + MINUTE_MS))
    return out
