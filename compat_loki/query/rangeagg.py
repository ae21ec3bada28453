"""Range aggregations (``count_over_time``, ``rate``, unwrap functions …) over the log reader.

Window semantics are Loki's (v3): at evaluation time ``t`` a range ``[r] offset o`` covers
``(t - o - r, t - o]``, left-open and right-closed; a step whose window holds no sample
yields no point (Loki never emits zeros for empty windows), ``absent_over_time`` aside.

Two paths give the same numbers (a test compares them):

* the **bucket path**, for counting functions over a pipeline of plain ``|= "x"`` filters:
  counts per (stream, bucket) come from ``bucket_counts`` (SQL ``GROUP BY`` in the store)
  with buckets of ``gcd(range, step)``, so a 6 h log-volume query reads no line into Python;
* the **sample path**, for everything else: entries run through the pipeline in time order
  and each resulting series keeps sorted timestamps and values for bisecting per step.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate, pairwise

from compat_loki.query import ast
from compat_loki.query.reader import Entry, LogReader, Stream
from compat_loki.query.results import Stats
from compat_loki.query.stages import (
    ERROR,
    Pipeline,
    Row,
    parse_bytes,
    parse_go_duration_s,
    pushable_contains,
)
from core.errors import QueryError, Unavailable
from core.labels import Labels

Matrix = dict[Labels, list[float | None]]
COUNTING_OPS = frozenset({"count_over_time", "rate", "bytes_over_time", "bytes_rate"})
MAX_BUCKETS = 200_000
MAX_SERIES = 50_000
# series × steps held in memory at once (each a Python list slot): ~80 MB at the limit.
MAX_POINTS_IN_MEMORY = 10_000_000
CHECK_EVERY = 1024


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise Unavailable("query timed out")


class LabelCache:
    """Interns label sets: the same dict contents → the same ``Labels`` object."""

    def __init__(self) -> None:
        self._cache: dict[tuple[tuple[str, str], ...], Labels] = {}

    def get(self, labels: dict[str, str]) -> Labels:
        key = tuple(sorted((k, v) for k, v in labels.items() if v != ""))
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = Labels(key)
            if len(self._cache) > MAX_SERIES:
                raise QueryError(
                    f"maximum of series ({MAX_SERIES}) reached for a single query; "
                    "aggregate with sum by (…) or drop high-cardinality labels"
                )
        return found


def _grouped(labels: dict[str, str], grouping: ast.Grouping | None) -> dict[str, str]:
    if grouping is None:
        return labels
    if grouping.without:
        return {k: v for k, v in labels.items() if k not in grouping.labels}
    return {k: v for k, v in labels.items() if k in grouping.labels}


def _pipeline_error(labels: Labels) -> QueryError:
    kind = labels.get(ERROR)
    return QueryError(
        f"pipeline error: '{kind}' for series: '{labels!r}'. Use a label filter to "
        f'intentionally skip this error. (e.g | __error__!="{kind}"). To skip all potential '
        'errors you can match empty errors.(e.g __error__="") The label filter can also be '
        'specified after unwrap. (e.g | unwrap latency | __error__="" )'
    )


def _unwrap_value(row: Row, unwrap: ast.Unwrap) -> float:
    raw = row.labels.get(unwrap.label)
    if raw is None:
        raise ValueError(f"label {unwrap.label} not found")
    if unwrap.conversion in ("duration", "duration_seconds"):
        return parse_go_duration_s(raw)
    if unwrap.conversion == "bytes":
        return parse_bytes(raw)
    return float(raw.strip())


class Samples:
    """Per-series sorted sample timestamps and values."""

    def __init__(self) -> None:
        self.series: dict[Labels, tuple[list[int], list[float]]] = {}

    def add(self, labels: Labels, ts: int, value: float) -> None:
        found = self.series.get(labels)
        if found is None:
            self.series[labels] = ([ts], [value])
        else:
            found[0].append(ts)
            found[1].append(value)


def collect_samples(
    reader: LogReader,
    streams: Sequence[Stream],
    agg: ast.RangeAggregation,
    lo: int,
    hi: int,
    stats: Stats,
    deadline: Deadline,
) -> Samples:
    """Samples in ``(lo, hi]`` after the pipeline: 1 per line, its bytes, or the unwrapped value."""
    lr = agg.range
    pipeline = Pipeline(lr.query.stages)
    post = Pipeline(tuple(lr.post_filters))
    needles, _ = pushable_contains(lr.query.stages)
    labels_of = {s.id: s.labels for s in streams}
    dicts = {s.id: dict(s.labels.items_tuple) for s in streams}
    cache = LabelCache()
    out = Samples()
    unwrap = lr.unwrap
    want_bytes = agg.op in ("bytes_over_time", "bytes_rate")
    entries: Iterable[Entry] = reader.entries(
        list(labels_of), lo + 1, hi + 1, direction="forward", contains=needles
    )
    for n, entry in enumerate(entries):
        if n % CHECK_EVERY == 0:
            deadline.check()
        stats.lines_processed += 1
        stats.bytes_processed += len(entry.line)
        row = pipeline.run(Row(entry.ts_ns, entry.line, dicts[entry.stream_id], entry.metadata))
        if row is None:
            continue
        if unwrap is not None:
            try:
                value = _unwrap_value(row, unwrap)
            except ValueError as exc:
                value = 0.0
                row.set_error("SampleExtractionErr", str(exc))
            row.remove(unwrap.label)
            if post.run(row) is None:
                continue
        elif want_bytes:
            value = float(len(row.line.encode()))
        else:
            value = 1.0
        if row.labels.get(ERROR):
            raise _pipeline_error(cache.get(row.labels))
        labels = cache.get(_grouped(row.labels, agg.grouping))
        out.add(labels, entry.ts_ns, value)
    return out


def can_use_buckets(agg: ast.RangeAggregation) -> bool:
    _, only_filters = pushable_contains(agg.range.query.stages)
    return agg.op in COUNTING_OPS and agg.range.unwrap is None and only_filters


def fallback_bucket_counts(
    reader: LogReader,
    stream_ids: Sequence[int],
    start_ns: int,
    end_ns: int,
    bucket_ns: int,
    contains: Sequence[str],
    deadline: Deadline,
    with_bytes: bool = True,
) -> Iterable[tuple[int, int, int, int]]:
    """``BucketCounter.bucket_counts`` through ``entries``, for readers without it."""
    acc: dict[tuple[int, int], list[int]] = {}
    entries = reader.entries(
        stream_ids, start_ns + 1, end_ns + 1, direction="forward", contains=contains
    )
    for n, e in enumerate(entries):
        if n % CHECK_EVERY == 0:
            deadline.check()
        key = (e.stream_id, (e.ts_ns - start_ns - 1) // bucket_ns)
        slot = acc.get(key)
        size = len(e.line.encode()) if with_bytes else 0
        if slot is None:
            acc[key] = [1, size]
        else:
            slot[0] += 1
            slot[1] += size
    return [(sid, b, c, nb) for (sid, b), (c, nb) in acc.items()]


def bucket_matrix(
    reader: LogReader,
    streams: Sequence[Stream],
    agg: ast.RangeAggregation,
    steps: Sequence[int],
    step_ns: int,
    stats: Stats,
    deadline: Deadline,
) -> Matrix | None:
    """Counting functions from per-bucket counts; None when the buckets would be too many."""
    lr = agg.range
    width = math.gcd(lr.range_ns, step_ns) if len(steps) > 1 else lr.range_ns
    origin = steps[0] - lr.offset_ns - lr.range_ns
    span = steps[-1] - lr.offset_ns - origin
    nbuckets = -(-span // width)
    if nbuckets > MAX_BUCKETS:
        return None
    needles, _ = pushable_contains(lr.query.stages)
    ids = [s.id for s in streams]
    use_bytes = agg.op in ("bytes_over_time", "bytes_rate")
    counter = getattr(reader, "bucket_counts", None)
    if counter is not None:
        rows: Iterable[tuple[int, int, int, int]] = counter(
            ids, origin, origin + span, width, contains=needles, with_bytes=use_bytes
        )
    else:
        rows = fallback_bucket_counts(
            reader, ids, origin, origin + span, width, needles, deadline, use_bytes
        )
    per_stream: dict[int, dict[int, tuple[int, int]]] = {}
    if len(streams) * (nbuckets + len(steps)) > MAX_POINTS_IN_MEMORY:
        _too_many_points()
    for sid, bucket, count, nbytes in rows:
        per_stream.setdefault(sid, {})[bucket] = (count, nbytes)
        stats.lines_processed += count
        stats.bytes_processed += nbytes
    deadline.check()
    labels_of = {s.id: s.labels for s in streams}
    per_second = agg.op in ("rate", "bytes_rate")
    range_s = lr.range_ns / 1e9
    span_buckets = lr.range_ns // width
    cache = LabelCache()
    out: dict[Labels, list[float | None]] = {}
    for sid, buckets in per_stream.items():
        dense = [0] * (nbuckets + 1)
        for b, (count, nbytes) in buckets.items():
            if 0 <= b < nbuckets:
                dense[b + 1] = nbytes if use_bytes else count
        counts = [0] * (nbuckets + 1)
        for b, (count, _) in buckets.items():
            if 0 <= b < nbuckets:
                counts[b + 1] = count
        prefix = list(accumulate(dense))
        cprefix = list(accumulate(counts))
        labels = cache.get(_grouped(dict(labels_of[sid]), agg.grouping))
        values = out.setdefault(labels, [None] * len(steps))
        for k, t in enumerate(steps):
            first = (t - steps[0]) // width
            last = first + span_buckets
            if cprefix[last] - cprefix[first] == 0:
                continue
            v = float(prefix[last] - prefix[first])
            if per_second:
                v /= range_s
            prev = values[k]
            values[k] = v if prev is None else prev + v
    return out


def _quantile(q: float, values: list[float]) -> float:
    if not values:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    lower = math.floor(rank)
    upper = min(lower + 1, len(ordered) - 1)
    weight = rank - lower
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def _stdvar(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


def _rate_counter(values: list[float], range_s: float) -> float:
    total = 0.0
    for prev, cur in pairwise(values):
        total += cur - prev if cur >= prev else cur
    return total / range_s


def window_fn(agg: ast.RangeAggregation) -> Callable[[list[float]], float]:
    op = agg.op
    range_s = agg.range.range_ns / 1e9
    table: dict[str, Callable[[list[float]], float]] = {
        "count_over_time": lambda v: float(len(v)),
        "rate": lambda v: (sum(v) if agg.range.unwrap else len(v)) / range_s,
        "bytes_over_time": lambda v: float(sum(v)),
        "bytes_rate": lambda v: sum(v) / range_s,
        "sum_over_time": lambda v: float(sum(v)),
        "avg_over_time": lambda v: sum(v) / len(v),
        "min_over_time": min,
        "max_over_time": max,
        "stdvar_over_time": _stdvar,
        "stddev_over_time": lambda v: math.sqrt(_stdvar(v)),
        "quantile_over_time": lambda v: _quantile(agg.param or 0.0, v),
        "first_over_time": lambda v: v[0],
        "last_over_time": lambda v: v[-1],
        "rate_counter": lambda v: _rate_counter(v, range_s),
    }
    return table[op]


def _too_many_points() -> None:
    raise QueryError(
        "the query would hold too many points in memory; shorten the range, raise the "
        "step, or aggregate with sum by (…)"
    )


def samples_matrix(agg: ast.RangeAggregation, samples: Samples, steps: Sequence[int]) -> Matrix:
    lr = agg.range
    if len(samples.series) * len(steps) > MAX_POINTS_IN_MEMORY:
        _too_many_points()
    fn = window_fn(agg)
    out: Matrix = {}
    for labels, (ts, vals) in samples.series.items():
        points: list[float | None] = [None] * len(steps)
        for k, t in enumerate(steps):
            hi = t - lr.offset_ns
            i0 = bisect_right(ts, hi - lr.range_ns)
            i1 = bisect_right(ts, hi)
            if i1 > i0:
                points[k] = fn(vals[i0:i1])
        if any(p is not None for p in points):
            out[labels] = points
    return out


def absent_matrix(agg: ast.RangeAggregation, samples: Samples, steps: Sequence[int]) -> Matrix:
    lr = agg.range
    present = [False] * len(steps)
    for ts, _ in samples.series.values():
        for k, t in enumerate(steps):
            hi = t - lr.offset_ns
            if bisect_right(ts, hi) > bisect_right(ts, hi - lr.range_ns):
                present[k] = True
    labels = Labels((m.name, m.value) for m in lr.query.matchers if m.op == "=")
    points: list[float | None] = [None if p else 1.0 for p in present]
    return {labels: points} if any(p is not None for p in points) else {}


def evaluate_range(
    reader: LogReader,
    agg: ast.RangeAggregation,
    steps: Sequence[int],
    step_ns: int,
    stats: Stats,
    deadline: Deadline,
) -> Matrix:
    lr = agg.range
    lo = steps[0] - lr.offset_ns - lr.range_ns
    hi = steps[-1] - lr.offset_ns
    streams = reader.streams(lr.query.matchers, lo + 1, hi + 1)
    if agg.op != "absent_over_time" and not streams:
        return {}
    if can_use_buckets(agg) and agg.op != "absent_over_time":
        matrix = bucket_matrix(reader, streams, agg, steps, step_ns, stats, deadline)
        if matrix is not None:
            return matrix
    samples = (
        collect_samples(reader, streams, agg, lo, hi, stats, deadline) if streams else Samples()
    )
    if agg.op == "absent_over_time":
        return absent_matrix(agg, samples, steps)
    return samples_matrix(agg, samples, steps)
