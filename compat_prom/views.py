"""SPEC §6.5.2-§6.5.4 answers computed from the rollups (no SQL here: ``store`` has it).

Buckets combine every matching series: counts, sums, min/max add up; percentiles of one
series are the stored ones (exact for a minute, sketch for an hour); across several series
they come from the merged sketches (within 0.5 %). The current, unfinished hour is merged
from its minute rollups on the fly, and the minutes the rollup job has not reached yet (it
waits ``rollup.LATENESS_MS`` after a minute ends) are computed from raw samples, so the
views show data as soon as it is ingested (lag: the client's AGGREGATION_INTERVAL).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from compat_prom import rollup, store
from compat_prom.sketch import Sketch
from core.errors import BadRequest
from core.labels import METRIC_NAME, Matcher
from core.timeparse import parse_duration_ms

PERIODS = {"1h": 3_600_000, "24h": 86_400_000, "7d": 604_800_000, "30d": 2_592_000_000}
REQUESTS = "http_requests_total"
DURATION = "http_request_duration_seconds"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def period_ms(period: str) -> int:
    if period in PERIODS:
        return PERIODS[period]
    try:
        ms = parse_duration_ms(period)
    except BadRequest:
        raise BadRequest(f"period must be one of {', '.join(PERIODS)}") from None
    if not 0 < ms <= PERIODS["30d"]:
        raise BadRequest("period must be between 1ms and 30d")
    return ms


def resolution_ms(resolution: str, period: int) -> int:
    if resolution == "minute":
        return store.MINUTE_MS
    if resolution == "hour":
        return store.HOUR_MS
    if resolution == "auto":
        return store.MINUTE_MS if period <= 6 * store.HOUR_MS else store.HOUR_MS
    raise BadRequest("resolution must be minute, hour or auto")


def parse_label_filter(text: str | None) -> list[Matcher]:
    """SPEC ``labels=key:value,key2:value2``."""
    out: list[Matcher] = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition(":")
        if not sep or not key.strip():
            raise BadRequest(f"labels must look like key:value,key2:value2 (got {part!r})")
        out.append(Matcher(key.strip(), "=", value.strip()))
    return out


@dataclass
class Bucket:
    count: int = 0
    sum: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")
    increase: float | None = None
    series: int = 0
    single: store.RollupRow | None = None
    sketch: Sketch | None = None

    def add(self, row: store.RollupRow) -> None:
        self.count += row.count
        self.sum += row.sum
        self.min = min(self.min, row.min)
        self.max = max(self.max, row.max)
        if row.increase is not None:
            self.increase = (self.increase or 0.0) + row.increase
        self.series += 1
        self.single = row
        if row.sketch is not None:
            sk = Sketch.from_bytes(row.sketch)
            if self.sketch is None:
                self.sketch = sk
            else:
                self.sketch.merge(sk)

    def quantiles(self) -> tuple[float | None, float | None, float | None]:
        if self.series == 1 and self.single is not None:
            return self.single.p50, self.single.p95, self.single.p99
        if self.sketch is None:
            return None, None, None
        return self.sketch.quantile(0.5), self.sketch.quantile(0.95), self.sketch.quantile(0.99)


def rollup_rows(
    conn: sqlite3.Connection, matchers: Sequence[Matcher], res: int, start: int, end: int
) -> list[store.RollupRow]:
    """Rollups in ``[start, end)``, plus the minutes the rollup job has not done yet
    (computed from raw samples, exactly as the job will), plus the unfinished hours merged
    from their minutes."""
    rows = store.rollups_for(conn, matchers, res, start, end)
    live_from = start if res == store.MINUTE_MS else start - store.HOUR_MS
    live = rollup.live_minutes(conn, store.matching_series(conn, matchers, live_from), start, end)
    if res != store.HOUR_MS:
        have = {(r.series_id, r.bucket) for r in rows}
        return rows + [m for m in live if (m.series_id, m.bucket) not in have]
    have = {(r.series_id, r.bucket) for r in rows}
    last_hour = (end - 1) // store.HOUR_MS * store.HOUR_MS
    for hour in (last_hour - store.HOUR_MS, last_hour):
        if hour < start - store.HOUR_MS:
            continue
        per_series: dict[int, list[store.RollupRow]] = defaultdict(list)
        stored = store.rollups_for(conn, matchers, store.MINUTE_MS, hour, hour + store.HOUR_MS)
        done = {(m.series_id, m.bucket) for m in stored}
        fresh = [m for m in live if hour <= m.bucket < hour + store.HOUR_MS]
        for m in stored + [m for m in fresh if (m.series_id, m.bucket) not in done]:
            if (m.series_id, hour) not in have:
                per_series[m.series_id].append(m)
        for minutes in per_series.values():
            agg = rollup.merge([_agg(m) for m in minutes])
            first = minutes[0]
            rows.append(
                store.RollupRow(
                    first.series_id, first.labels, hour, agg.count, agg.sum, agg.min, agg.max,
                    agg.last, agg.increase, agg.p50, agg.p95, agg.p99,
                    agg.sketch.to_bytes() if agg.sketch is not None else None,
                )
            )  # fmt: skip
    return rows


def _agg(r: store.RollupRow) -> rollup.Agg:
    return rollup.Agg(
        r.count, r.sum, r.min, r.max, r.last if r.last is not None else float("nan"), r.bucket,
        r.increase, r.p50, r.p95, r.p99,
        Sketch.from_bytes(r.sketch) if r.sketch is not None else None,
    )  # fmt: skip


def combine(rows: Sequence[store.RollupRow]) -> dict[int, Bucket]:
    out: dict[int, Bucket] = defaultdict(Bucket)
    for r in rows:
        out[r.bucket].add(r)
    return dict(sorted(out.items()))


def metrics_query(
    conn: sqlite3.Connection, name: str, period: str, resolution: str, labels: str | None,
    now_ms: int,
) -> dict[str, Any]:  # fmt: skip
    span = period_ms(period)
    res = resolution_ms(resolution, span)
    matchers = [Matcher(METRIC_NAME, "=", name), *parse_label_filter(labels)]
    start = (now_ms - span) // res * res
    data = []
    for bucket, b in combine(rollup_rows(conn, matchers, res, start, now_ms + 1)).items():
        p50, p95, p99 = b.quantiles()
        item: dict[str, Any] = {
            "bucket": iso(bucket),
            "count": b.count,
            "sum": b.sum,
            "min": b.min,
            "max": b.max,
            "avg": b.sum / b.count if b.count else None,
            "p50": p50,
            "p95": p95,
            "p99": p99,
        }
        if b.increase is not None:
            item["increase"] = b.increase
        data.append(item)
    return {
        "name": name,
        "period": period,
        "resolution": "minute" if res == store.MINUTE_MS else "hour",
        "data": data,
    }


def metric_names(conn: sqlite3.Connection) -> dict[str, Any]:
    meta = {name: entries[0]["type"] for name, entries in store.metadata(conn).items()}
    out = []
    for name, _ in store.metric_names(conn):
        kind = meta.get(name)
        if kind is None:
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and meta.get(name[: -len(suffix)]) == "histogram":
                    kind = "counter"
        out.append({"name": name, "type": kind or "unknown"})
    return {"metrics": out}


@dataclass
class _Endpoint:
    requests: float = 0.0
    errors: float = 0.0
    duration_sum: float = 0.0
    duration_count: int = 0


@dataclass
class _Dash:
    requests: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    e4: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    e5: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    endpoints: dict[str, _Endpoint] = field(default_factory=lambda: defaultdict(_Endpoint))


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 3)


def dashboard(conn: sqlite3.Connection, period: str, now_ms: int) -> dict[str, Any]:
    """SPEC §6.5.4 from FlowRent's http_* metrics (SPEC §6.4.1)."""
    if period not in ("1h", "24h", "7d"):
        raise BadRequest("period must be 1h, 24h or 7d")
    span = PERIODS[period]
    res = store.MINUTE_MS if span <= store.HOUR_MS else store.HOUR_MS
    start = (now_ms - span) // res * res
    d = _Dash()
    for r in rollup_rows(conn, [Matcher(METRIC_NAME, "=", REQUESTS)], res, start, now_ms + 1):
        inc = r.increase or 0.0
        status = r.labels.get("status", "")
        d.requests[r.bucket] += inc
        ep = d.endpoints[r.labels.get("endpoint", "")]
        ep.requests += inc
        if status.startswith("4"):
            d.e4[r.bucket] += inc
        if status.startswith("5"):
            d.e5[r.bucket] += inc
        if status[:1] in ("4", "5"):
            ep.errors += inc
    lat_rows = rollup_rows(conn, [Matcher(METRIC_NAME, "=", DURATION)], res, start, now_ms + 1)
    overall = Bucket()
    for r in lat_rows:
        overall.add(r)
        ep = d.endpoints[r.labels.get("endpoint", "")]
        ep.duration_sum += r.sum
        ep.duration_count += r.count
    total = sum(d.requests.values())
    errors = sum(d.e4.values()) + sum(d.e5.values())
    latency = []
    for bucket, b in combine(lat_rows).items():
        p50, p95, p99 = b.quantiles()
        latency.append({"bucket": iso(bucket), "p50": _ms(p50), "p95": _ms(p95), "p99": _ms(p99)})
    top = sorted(
        ((name, ep) for name, ep in d.endpoints.items() if name and ep.requests > 0),
        key=lambda x: -x[1].requests,
    )[:10]
    return {
        "period": period,
        "resolution": "minute" if res == store.MINUTE_MS else "hour",
        "summary": {
            "total_requests": round(total),
            "error_rate": round(errors / total, 6) if total else 0.0,
            "avg_latency_ms": _ms(overall.sum / overall.count) if overall.count else None,
            "p95_latency_ms": _ms(overall.quantiles()[1]),
        },
        "request_rate": [
            {"bucket": iso(b), "count": round(v)} for b, v in sorted(d.requests.items())
        ],
        "latency": latency,
        "error_rate": [
            {
                "bucket": iso(b),
                "rate": round((d.e4[b] + d.e5[b]) / v, 6) if v else 0.0,
                "errors_4xx": round(d.e4[b]),
                "errors_5xx": round(d.e5[b]),
            }
            for b, v in sorted(d.requests.items())
        ],
        "top_endpoints": [
            {
                "endpoint": name,
                "requests": round(ep.requests),
                "avg_ms": _ms(ep.duration_sum / ep.duration_count) if ep.duration_count else None,
                "error_rate": round(ep.errors / ep.requests, 6),
            }
            for name, ep in top
        ],
    }
