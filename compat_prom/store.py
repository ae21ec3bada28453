"""All SQL of the metrics collector: series, samples, rollups, metadata, retention.

Layout (DESIGN §5, measured in docs/metrics.md):

* ``series``: one row per label set; the id is ``Labels.fingerprint()``, so the writer
  never has to look an id up. ``postings (name, value, series_id)`` is the inverted index
  matchers are resolved on, as in Prometheus' index.
* ``head``: the open head, one row per recent sample (cheap to append, any order).
  ``compact_head`` moves every sample of a finished 30-minute block into ``chunks``, one
  packed blob per series and block (``chunkcodec``), merging with what is already there, so
  out-of-order and late samples simply land in the head and are merged at the next turn.
* ``rollups``: minute and hour aggregates per series (``compat_prom.rollup``).

Float values are kept as their 64-bit patterns (SQLite turns a NaN REAL into NULL), so the
staleness NaN comes back bit-exact. This module is longer than 400 lines because it is the
one place SQL may live (CONVENTIONS §2); every function is a thin statement wrapper.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import math
import sqlite3
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from compat_prom import chunkcodec
from compat_prom.query.reader import SeriesSamples
from core.errors import Unavailable
from core.labels import METRIC_NAME, Labels, Matcher

Batch = Sequence[tuple[Labels, Sequence[int], Sequence[float]]]
Job = Callable[[sqlite3.Connection], int]

BLOCK_MS = 30 * 60 * 1000  # one chunk per series per 30 min: ~120 samples at 15 s
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
KIND_SAMPLES = 0
KIND_OBSERVATIONS = 1
WATERMARK_KEY = "rollup_minute_done_ms"

# Per writer connection: series id → [first, last] as recorded in its row. Rows record
# bounds widened to whole hours, so a series' row is updated about once an hour instead of
# on every append (the bounds only pre-filter reads, which check the samples themselves).
_KNOWN: dict[int, tuple[sqlite3.Connection, dict[int, list[int]]]] = {}


def _known(conn: sqlite3.Connection) -> dict[int, list[int]]:
    entry = _KNOWN.get(id(conn))
    if entry is None or entry[0] is not conn:
        entry = (conn, {})
        _KNOWN[id(conn)] = entry
    return entry[1]


# Per writer connection: block → monotonic time of its last append. Compaction leaves a
# block alone while samples still arrive for it (a backfill fills one block after the
# other): re-packing a block after every small batch cost ~100 µs per sample (measured).
_TOUCHED: dict[int, tuple[sqlite3.Connection, dict[int, float]]] = {}


def _touched(conn: sqlite3.Connection) -> dict[int, float]:
    entry = _TOUCHED.get(id(conn))
    if entry is None or entry[0] is not conn:
        entry = (conn, {})
        _TOUCHED[id(conn)] = entry
    return entry[1]


# Per writer connection: (first hour, last hour) → ids whose known bounds already cover it.
# A live sender's batches all fall in the same hour, so after the first batch of that hour
# checking a whole batch is one set difference instead of a Python loop over its series.
_COVERED: dict[int, tuple[sqlite3.Connection, dict[tuple[int, int], set[int]]]] = {}


def _covered(conn: sqlite3.Connection) -> dict[tuple[int, int], set[int]]:
    entry = _COVERED.get(id(conn))
    if entry is None or entry[0] is not conn:
        entry = (conn, {})
        _COVERED[id(conn)] = entry
    return entry[1]


def forget_known(conn: sqlite3.Connection) -> None:
    _known(conn).clear()
    _covered(conn).clear()


def labels_json(labels: Labels) -> str:
    return json.dumps(dict(labels.items_tuple), ensure_ascii=False, separators=(",", ":"))


def clean_labels(labels: Labels) -> Labels:
    """Prometheus treats an empty label value as the label being absent."""
    if any(v == "" for _, v in labels.items_tuple):
        return Labels((k, v) for k, v in labels.items_tuple if v != "")
    return labels


@functools.lru_cache(maxsize=8192)
def fingerprint(labels: Labels) -> int:
    """``Labels.fingerprint`` cached (a blake2b per call; native POSTs repeat label sets)."""
    return labels.fingerprint()


def _hour_floor(ms: int) -> int:
    return ms // HOUR_MS * HOUR_MS


def _hour_ceil(ms: int) -> int:
    return (ms // HOUR_MS + 1) * HOUR_MS - 1


def ensure_series(
    conn: sqlite3.Connection,
    labels: Labels,
    first_ms: int,
    last_ms: int,
    kind: int = 0,
    *,
    sid: int | None = None,
) -> int:
    """The id of ``labels`` (created with its postings when new). ``sid``: its fingerprint,
    when the caller has it already."""
    if sid is None:
        sid = fingerprint(labels)
    known = _known(conn)
    if sid in known:
        return sid
    lo, hi = _hour_floor(first_ms), _hour_ceil(last_ms)
    cur = conn.execute(
        "INSERT OR IGNORE INTO series (id, name, labels, kind, first_ms, last_ms)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (sid, labels.get(METRIC_NAME, ""), labels_json(labels), kind, lo, hi),
    )
    if cur.rowcount:
        conn.executemany(
            "INSERT OR IGNORE INTO postings (name, value, series_id) VALUES (?, ?, ?)",
            [(k, v, sid) for k, v in labels.items_tuple],
        )
        known[sid] = [lo, hi]
    else:
        row = conn.execute("SELECT first_ms, last_ms FROM series WHERE id = ?", (sid,)).fetchone()
        known[sid] = [row[0], row[1]]
    return sid


def unknown_ids(conn: sqlite3.Connection, ids: set[int]) -> set[int]:
    """The ``ids`` this writer connection has not seen as series yet."""
    return ids - _known(conn).keys()


def ensure_series_ids(
    conn: sqlite3.Connection, series: Mapping[int, tuple[Labels, int, int]]
) -> None:
    """``ensure_series`` for many (id → (labels, first, last)), the known ones skipped in C
    (a remote-write batch is mostly series seen before)."""
    new = series.keys() - _known(conn).keys()
    for sid in new:
        labels, lo, hi = series[sid]
        ensure_series(conn, labels, lo, hi, sid=sid)


def _touch_uniform(conn: sqlite3.Connection, ids: Collection[int], lo: int, hi: int) -> None:
    """``_touch_series`` for series that all have samples from ``lo`` to ``hi``."""
    window = (_hour_floor(lo), _hour_ceil(hi))
    covered = _covered(conn)
    done = covered.get(window)
    todo = set(ids) - done if done is not None else set(ids)
    if not todo:
        return
    _touch_series(conn, {sid: [lo, hi] for sid in todo})
    if done is None:
        if len(covered) >= 8:
            covered.clear()
        done = covered[window] = set()
    done |= todo


def _touch_series(conn: sqlite3.Connection, bounds: dict[int, list[int]]) -> None:
    known = _known(conn)
    changes = []
    for sid, (lo, hi) in bounds.items():
        have = known.get(sid)
        if have is None:
            have = known[sid] = [_hour_floor(lo), _hour_ceil(hi)]
            changes.append((have[0], have[1], sid))
        elif lo < have[0] or hi > have[1]:
            have[0], have[1] = min(have[0], _hour_floor(lo)), max(have[1], _hour_ceil(hi))
            changes.append((have[0], have[1], sid))
    if not changes:
        return
    cur = conn.executemany(
        "UPDATE series SET first_ms = min(first_ms, ?), last_ms = max(last_ms, ?) WHERE id = ?",
        changes,
    )
    if cur.rowcount != len(changes):
        # A series row we believed in is missing (its transaction never committed).
        forget_known(conn)
        raise Unavailable("series cache was stale after a failed commit; retry the write")


def to_signed_bits(values: Sequence[float]) -> array[int]:
    return array("q", array("d", values).tobytes())


def signed_to_unsigned(bits: Iterable[int]) -> list[int]:
    return [b & 0xFFFFFFFFFFFFFFFF for b in bits]


def append_samples(conn: sqlite3.Connection, batch: Batch) -> int:
    """Store samples (any order, duplicates: last write wins); returns how many.

    Runs inside a writer job. Labels with empty values are dropped (Prometheus semantics).
    """
    rows: list[tuple[int, int, int]] = []
    bounds: dict[int, list[int]] = {}
    for labels, timestamps, values in batch:
        if not timestamps:
            continue
        if len(timestamps) != len(values):
            raise ValueError("timestamps and values differ in length")
        lo, hi = min(timestamps), max(timestamps)
        sid = ensure_series(conn, clean_labels(labels), lo, hi)
        seen = bounds.get(sid)
        if seen is None:
            bounds[sid] = [lo, hi]
        else:
            seen[0], seen[1] = min(seen[0], lo), max(seen[1], hi)
        rows.extend(zip([sid] * len(timestamps), timestamps, to_signed_bits(values), strict=True))
    return _insert_head(conn, rows, bounds)


def append_rows(
    conn: sqlite3.Connection,
    rows: list[tuple[int, int, int]],
    bounds: dict[int, list[int]] | None = None,
    *,
    uniform: tuple[Collection[int], int, int] | None = None,
) -> int:
    """Fast path for ingest: (series id from ``ensure_series``, ts, signed value bits).

    ``bounds``: each series' (first ts, last ts) in ``rows`` when the caller has them;
    ``uniform``: (series ids, first ts, last ts) when those are the same for every series.
    """
    if uniform is not None:
        return _insert_head(conn, rows, None, uniform)
    if bounds is not None:
        return _insert_head(conn, rows, bounds)
    bounds = {}
    for sid, ts, _ in rows:
        seen = bounds.get(sid)
        if seen is None:
            bounds[sid] = [ts, ts]
        elif ts < seen[0]:
            seen[0] = ts
        elif ts > seen[1]:
            seen[1] = ts
    return _insert_head(conn, rows, bounds)


def _insert_head(
    conn: sqlite3.Connection,
    rows: list[tuple[int, int, int]],
    bounds: dict[int, list[int]] | None,
    uniform: tuple[Collection[int], int, int] | None = None,
) -> int:
    if not rows:
        return 0
    if uniform is not None:
        ids, oldest, newest = uniform
        _touch_uniform(conn, ids, oldest, newest)
    else:
        assert bounds is not None
        _touch_series(conn, bounds)
        oldest = min(lo for lo, _ in bounds.values())
        newest = max(hi for _, hi in bounds.values())
    conn.executemany("INSERT OR REPLACE INTO head (series_id, ts, value) VALUES (?, ?, ?)", rows)
    touched = _touched(conn)
    now = time.monotonic()
    lo_b = oldest // BLOCK_MS
    hi_b = newest // BLOCK_MS
    blocks = range(lo_b, hi_b + 1) if hi_b - lo_b <= 96 else {ts // BLOCK_MS for _, ts, _ in rows}
    for b in blocks:
        touched[b] = now
    _mark_late(conn, oldest, (ts for _, ts, _ in rows))
    hour = int(time.time() * 1000) // HOUR_MS * HOUR_MS  # by arrival, for /health's 24 h
    conn.execute(
        "INSERT INTO ingest_stats (hour, samples) VALUES (?, ?)"
        " ON CONFLICT (hour) DO UPDATE SET samples = samples + excluded.samples",
        (hour, len(rows)),
    )
    return len(rows)


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _mark_late(conn: sqlite3.Connection, oldest: int, timestamps: Iterable[int]) -> None:
    """Minutes already rolled up that got new samples are recomputed at the next run.

    ``oldest``: no timestamp is older, so most batches need no pass over them.
    """
    done = get_meta(conn, WATERMARK_KEY)
    if done is None:
        return
    watermark = int(done)
    if oldest >= watermark:
        return
    late = {ts // MINUTE_MS * MINUTE_MS for ts in timestamps if ts < watermark}
    if late:
        conn.executemany(
            "INSERT OR IGNORE INTO rollup_dirty (res, bucket) VALUES (?, ?)",
            [(MINUTE_MS, b) for b in late],
        )


# --- head compaction -------------------------------------------------------------------


def compact_head(conn: sqlite3.Connection, cutoff_ms: int, quiet_s: float = 0.0) -> int:
    """Pack the oldest block of the head that ended before ``cutoff_ms`` and got no samples
    for ``quiet_s`` seconds into chunks.

    Returns the samples moved; one block (30 min of every series) per call keeps each
    writer job short, so call again until it returns 0.
    """
    touched = _touched(conn)
    now = time.monotonic()
    start = -(2**62)
    for _ in range(1000):
        first = conn.execute("SELECT min(ts) FROM head WHERE ts >= ?", (start,)).fetchone()[0]
        if first is None:
            return 0
        block = first // BLOCK_MS
        if (block + 1) * BLOCK_MS > cutoff_ms:
            return 0  # still open (or within the grace period)
        if now - touched.get(block, 0.0) >= quiet_s:
            break
        start = (block + 1) * BLOCK_MS  # still being filled: try the next block
    else:
        return 0
    touched.pop(block, None)
    return _pack(conn, block, block * BLOCK_MS, (block + 1) * BLOCK_MS)


def pack_open_block(conn: sqlite3.Connection, upto_ms: int, min_span_ms: int) -> int:
    """Pack the head rows before ``upto_ms`` of the block holding ``upto_ms - 1`` into its
    chunks (merged with what is packed there already), once they span ``min_span_ms``.

    Why: the head is keyed by time first (appends stay cheap), so a read scans every
    series' head rows in its range. Packing the open block's settled part every few
    minutes keeps the head to the last few minutes, and a live 1 h panel reads chunks
    (decoded once, then cached) instead of up to half an hour of head rows. Samples that
    arrive later for the packed part go to the head and are merged at the next pack.
    """
    block = (upto_ms - 1) // BLOCK_MS
    lo = block * BLOCK_MS
    first = conn.execute(
        "SELECT min(ts) FROM head WHERE ts >= ? AND ts < ?", (lo, upto_ms)
    ).fetchone()[0]
    if first is None or upto_ms - first < min_span_ms:
        return 0
    return _pack(conn, block, lo, upto_ms)


def _pack(conn: sqlite3.Connection, block: int, lo: int, hi: int) -> int:
    """Move the head rows in ``[lo, hi)`` (inside ``block``) into the block's chunks,
    merged with the samples already packed there (the head's sample wins a timestamp)."""
    old_chunks = dict(
        conn.execute("SELECT series_id, data FROM chunks WHERE block = ?", (block,)).fetchall()
    )
    rows: list[tuple[int, int, int, int, int, bytes]] = []
    n = 0

    def flush(sid: int, stamps: Sequence[int], bits: Sequence[int]) -> None:
        old = old_chunks.get(sid)
        if old is not None:
            merged = dict(zip(*chunkcodec.decode(old), strict=True))
            merged.update(zip(stamps, bits, strict=True))
            stamps = sorted(merged)
            bits = [merged[t] for t in stamps]
        blob = chunkcodec.encode(stamps, bits)
        rows.append((sid, block, stamps[0], stamps[-1], len(stamps), blob))

    # Read in the key's (time, series) order, no sort, into two int64 arrays per series:
    # 16 bytes a sample (~2 MB for a block of 1,000 series), where Python ints in lists or
    # dicts had cost ~15 MB RSS, and an ORDER BY series_id ~20 % of the writer's time in a
    # backfill. Each series' samples arrive in time order.
    per_series: dict[int, tuple[array[int], array[int]]] = {}
    for ts, sid, value in conn.execute(
        "SELECT ts, series_id, value FROM head WHERE ts >= ? AND ts < ?", (lo, hi)
    ):
        got = per_series.get(sid)
        if got is None:
            got = per_series[sid] = (array("q"), array("q"))
        got[0].append(ts)
        got[1].append(value)
    for sid in sorted(per_series):
        stamps_a, signed = per_series.pop(sid)
        n += len(stamps_a)
        flush(sid, stamps_a.tolist(), array("Q", signed.tobytes()))
    conn.executemany(
        "INSERT INTO chunks (series_id, block, min_ms, max_ms, n, data)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (series_id, block) DO UPDATE SET"
        " min_ms = excluded.min_ms, max_ms = excluded.max_ms, n = excluded.n,"
        " data = excluded.data",
        rows,
    )
    conn.execute("DELETE FROM head WHERE ts >= ? AND ts < ?", (lo, hi))
    return n


# --- reading ------------------------------------------------------------------------------


def _ids_param(ids: Iterable[int]) -> str:
    return json.dumps(list(ids))


@dataclass
class _Series:
    id: int
    labels: Labels
    first_ms: int
    last_ms: int


def _memo_filter(pairs: Iterable[tuple[str, int]], m: Matcher, want: bool) -> set[int]:
    memo: dict[str, bool] = {}
    out: set[int] = set()
    for value, sid in pairs:
        hit = memo.get(value)
        if hit is None:
            hit = memo[value] = m.matches(value)
        if hit is want:
            out.add(sid)
    return out


def _resolve_postings(
    conn: sqlite3.Connection, matchers: Sequence[Matcher], pending_below: int = 0
) -> tuple[set[int] | None, set[int], list[Matcher]] | None:
    """Matchers resolved on the postings index: (candidate ids, or None for "every series";
    ids to exclude; matchers left to check on label sets), or None when nothing can match.

    Once fewer than ``pending_below`` candidates remain, the other matchers are left pending:
    checking them on the few candidates' label sets is cheaper than scanning postings.
    """
    ordered = sorted(matchers, key=lambda m: (m.op != "=" or m.value == "", m.op != "=~"))
    candidates: set[int] | None = None
    excluded: set[int] = set()
    pending: list[Matcher] = []
    for m in ordered:
        if candidates is not None and len(candidates) <= pending_below:
            pending.append(m)
            continue
        if m.op == "=" and m.value != "":
            cur = conn.execute(
                "SELECT series_id FROM postings WHERE name = ? AND value = ?", (m.name, m.value)
            )
            ids = {r[0] for r in cur}
        else:
            pairs = conn.execute("SELECT value, series_id FROM postings WHERE name = ?", (m.name,))
            if m.matches_empty():
                excluded |= _memo_filter(pairs, m, False)
                continue
            ids = _memo_filter(pairs, m, True)
        candidates = ids if candidates is None else candidates & ids
        if not candidates:
            return None
    return candidates, excluded, pending


def find_series(
    conn: sqlite3.Connection,
    matchers: Sequence[Matcher],
    start_ms: int | None = None,
    end_ms: int | None = None,
    kind: int = KIND_SAMPLES,
) -> list[_Series]:
    """Series matching every matcher (Prometheus semantics: absent label == "")."""
    resolved = _resolve_postings(conn, matchers, pending_below=2000)
    if resolved is None:
        return []
    candidates, excluded, pending = resolved
    sql = "SELECT id, labels, first_ms, last_ms FROM series WHERE kind = ?"
    params: list[Any] = [kind]
    if candidates is not None:
        sql += " AND id IN (SELECT value FROM json_each(?))"
        params.append(_ids_param(candidates))
    if start_ms is not None:
        sql += " AND last_ms >= ?"
        params.append(start_ms)
    if end_ms is not None:
        sql += " AND first_ms <= ?"
        params.append(end_ms)
    out: list[_Series] = []
    for sid, text, first, last in conn.execute(sql, params):
        if sid in excluded:
            continue
        labels = Labels(json.loads(text))
        if pending and not all(m.matches(labels.get(m.name)) for m in pending):
            continue
        out.append(_Series(sid, labels, first, last))
    out.sort(key=lambda s: s.labels.items_tuple)
    return out


# Decoded chunks, keyed by the blob itself (so a re-packed block can never be served stale):
# dashboards re-read the same recent blocks on every refresh. ~2.3 KB per 120-sample block,
# so at most ~10 MB; 4,096 blocks hold the default 1 h of raw data of ~1,300 series.
_decoded = functools.lru_cache(maxsize=4096)(chunkcodec.decode_arrays)

Points = tuple[list[int], list[float]]


def _add_slice(
    out: dict[int, Points], sid: int, stamps: array[int], values: array[float], lo: int, hi: int
) -> None:
    """Append ``[lo, hi)`` of one decoded block to the series' points (blocks come in time
    order per series)."""
    got = out.get(sid)
    if got is None:
        out[sid] = (stamps[lo:hi].tolist(), values[lo:hi].tolist())
    else:
        got[0].extend(stamps[lo:hi])
        got[1].extend(values[lo:hi])


def raw_points(
    conn: sqlite3.Connection, ids: Sequence[int], start_ms: int, end_ms: int
) -> dict[int, Points]:
    """{series id: (timestamps, values)} in ``[start, end]`` from chunks and head, ascending.

    The read path of ``select``: blocks come in time order per series and are cut at the
    range edges by bisection, so a series with packed blocks only needs no per-sample work;
    the head is appended when it starts after the last packed sample (the normal case) and
    merged sample by sample (the head wins) only when it overlaps.
    """
    out: dict[int, Points] = {}
    if not ids:
        return out
    param = _ids_param(ids)
    for sid, data in conn.execute(
        "SELECT series_id, data FROM chunks WHERE series_id IN (SELECT value FROM json_each(?))"
        " AND block BETWEEN ? AND ? AND max_ms >= ? AND min_ms <= ? ORDER BY series_id, block",
        (param, start_ms // BLOCK_MS, end_ms // BLOCK_MS, start_ms, end_ms),
    ):
        stamps, values = _decoded(data)
        if not stamps:
            continue
        lo = bisect.bisect_left(stamps, start_ms) if stamps[0] < start_ms else 0
        hi = bisect.bisect_right(stamps, end_ms) if stamps[-1] > end_ms else len(stamps)
        _add_slice(out, sid, stamps, values, lo, hi)
    head: dict[int, tuple[list[int], list[int]]] = {}
    for sid, ts, b in conn.execute(
        "SELECT series_id, ts, value FROM head WHERE series_id IN (SELECT value FROM json_each(?))"
        " AND ts BETWEEN ? AND ?",
        (param, start_ms, end_ms),
    ):
        pair = head.get(sid)
        if pair is None:
            head[sid] = ([ts], [b])
        else:
            pair[0].append(ts)
            pair[1].append(b)
    for sid, (head_ts, signed) in head.items():
        head_values = array("d", array("q", signed).tobytes()).tolist()
        got = out.get(sid)
        if got is None or not got[0]:
            out[sid] = (head_ts, head_values)
        elif head_ts[0] > got[0][-1]:
            got[0].extend(head_ts)
            got[1].extend(head_values)
        else:
            merged = dict(zip(*got, strict=True))
            merged.update(zip(head_ts, head_values, strict=True))
            order = sorted(merged)
            out[sid] = (order, [merged[t] for t in order])
    return out


def series_with_data(
    conn: sqlite3.Connection, ids: Sequence[int], start_ms: int, end_ms: int
) -> set[int]:
    """Which of ``ids`` have a sample (raw, or a rollup bucket) in ``[start, end]``.

    Cheapest first, each step only for the ids still unanswered: chunks (indexed by series;
    the ones entirely inside the range answer without decoding), rollups (indexed), then the
    head, whose key starts with the time (a few ids are probed one by one: the scan stops at
    a series' first sample in the range).
    """
    found: set[int] = set()
    if not ids:
        return found
    edges = (start_ms, end_ms)
    for sid, data in conn.execute(
        "SELECT series_id, CASE WHEN min_ms >= ? AND max_ms <= ? THEN NULL"
        " ELSE data END FROM chunks WHERE series_id IN (SELECT value FROM json_each(?))"
        " AND block BETWEEN ? AND ? AND max_ms >= ? AND min_ms <= ?",
        (start_ms, end_ms, _ids_param(ids), start_ms // BLOCK_MS, end_ms // BLOCK_MS, *edges),
    ):
        if sid in found:
            continue
        if data is None or chunkcodec.has_sample_in(data, start_ms, end_ms):
            found.add(sid)
    rest = [i for i in ids if i not in found]
    if rest:
        found.update(
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT series_id FROM rollups WHERE series_id IN"
                " (SELECT value FROM json_each(?)) AND bucket BETWEEN ? AND ?",
                (_ids_param(rest), start_ms - HOUR_MS + 1, end_ms - MINUTE_MS + 1),
            )
        )
        rest = [i for i in rest if i not in found]
    if 0 < len(rest) <= 64:
        for sid in rest:
            if conn.execute(
                "SELECT 1 FROM head WHERE ts BETWEEN ? AND ? AND series_id = ? LIMIT 1",
                (start_ms, end_ms, sid),
            ).fetchone():
                found.add(sid)
    elif rest:
        found.update(
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT series_id FROM head WHERE series_id IN"
                " (SELECT value FROM json_each(?)) AND ts BETWEEN ? AND ?",
                (_ids_param(rest), start_ms, end_ms),
            )
        )
    return found


def earliest_raw_ms(conn: sqlite3.Connection) -> int:
    """Start of the oldest raw block or head sample (two index lookups)."""
    block = conn.execute("SELECT min(block) FROM chunks").fetchone()[0]
    head = conn.execute("SELECT min(ts) FROM head").fetchone()[0]
    found = [x for x in (None if block is None else block * BLOCK_MS, head) if x is not None]
    return min(found) if found else 2**62


def earliest_rollup_ms(conn: sqlite3.Connection, res: int) -> int:
    """Oldest bucket of resolution ``res`` (an index lookup); far future when none."""
    row = conn.execute("SELECT min(bucket) FROM rollups WHERE res = ?", (res,)).fetchone()
    return 2**62 if row[0] is None else int(row[0])


def raw_starts(conn: sqlite3.Connection, ids: Sequence[int], by_ms: int) -> dict[int, int]:
    """Where each series' raw samples begin, exactly where that is after ``by_ms``; for a
    series whose packed samples begin by then, the start of those (also <= ``by_ms``).

    Why not always exact: the head is keyed by time, so a series' earliest head sample is
    a scan of the whole head. It can only matter for a series whose chunks begin after
    ``by_ms`` and after the head's oldest row (a backfill), or that has no chunks (a new
    series); in a live collector, usually none.
    """
    starts: dict[int, int] = dict(
        conn.execute(
            "SELECT series_id, min(min_ms) FROM chunks"
            " WHERE series_id IN (SELECT value FROM json_each(?)) GROUP BY series_id",
            (_ids_param(ids),),
        ).fetchall()
    )
    head_from = conn.execute("SELECT min(ts) FROM head").fetchone()[0]
    if head_from is None:
        return starts
    bound = max(by_ms, head_from)
    rest = [sid for sid in ids if starts.get(sid, bound + 1) > bound]
    if rest:
        for sid, lo in conn.execute(
            "SELECT series_id, min(ts) FROM head"
            " WHERE series_id IN (SELECT value FROM json_each(?)) GROUP BY series_id",
            (_ids_param(rest),),
        ):
            starts[sid] = min(lo, starts.get(sid, lo))
    return starts


def rollup_points(
    conn: sqlite3.Connection,
    ids: Sequence[int],
    res: int,
    start_ms: int,
    end_ms: int,
    *,
    at_last_sample: bool = False,
) -> dict[int, Points]:
    """Per series: (time, last value) of each rollup bucket in the range; the time is the
    bucket's last millisecond, or with ``at_last_sample`` the time of its last sample.

    A 24 h panel reads ~1,440 points per series: the rows are transposed in C (``zip``),
    a Python loop per row cost ~1 µs each.
    """
    if res == MINUTE_MS:
        return _minute_points(conn, ids, start_ms, end_ms, at_last_sample=at_last_sample)
    # One plain statement per series: ~2.5x faster than one statement for all series with
    # expressions per row (measured: 108 vs 290 ms for 200 series x 1,440 minutes).
    at = "last_ms" if at_last_sample else "bucket + ? - 1"
    sql = (
        f"SELECT {at}, last FROM rollups WHERE series_id = ? AND res = ?"
        " AND bucket BETWEEN ? AND ? ORDER BY bucket"
    )
    head: tuple[int, ...] = () if at_last_sample else (res,)
    lo, hi = start_ms - res + 1, end_ms - res + 1
    out: dict[int, Points] = {}
    for sid in ids:
        rows = conn.execute(sql, (*head, sid, res, lo, hi)).fetchall()
        if not rows:
            continue
        stamps, values = zip(*rows, strict=True)
        if None in values:  # a bucket without a value (never written so; kept safe)
            keep = [i for i, v in enumerate(values) if v is not None]
            stamps, values = tuple(stamps[i] for i in keep), tuple(values[i] for i in keep)
        out[sid] = (list(stamps), list(values))
    return out


def _minute_points(
    conn: sqlite3.Connection,
    ids: Sequence[int],
    start_ms: int,
    end_ms: int,
    *,
    at_last_sample: bool,
) -> dict[int, Points]:
    """``rollup_points`` of the minute rollups, from their per-hour packed copies
    (``minute_lasts``): the same buckets (``bucket + 1 min - 1 ms`` in the range)."""
    b_lo, b_hi = start_ms - MINUTE_MS + 1, end_ms - MINUTE_MS + 1
    out: dict[int, Points] = {}
    rows = conn.execute(
        "SELECT series_id, hour, data FROM minute_lasts WHERE series_id IN"
        " (SELECT value FROM json_each(?)) AND hour BETWEEN ? AND ? ORDER BY series_id, hour",
        (_ids_param(ids), b_lo // HOUR_MS * HOUR_MS, b_hi // HOUR_MS * HOUR_MS),
    ).fetchall()
    # The buckets kept are those whose end (``bucket + 1 min - 1 ms``) or, with
    # ``at_last_sample``, whose last sample lies in [start, end]: both are inside the bucket,
    # so the same rows are kept either way.
    t_lo = -(-b_lo // MINUTE_MS) * MINUTE_MS  # a sample of bucket b >= b_lo is at t >= t_lo
    t_hi = (b_hi // MINUTE_MS + 1) * MINUTE_MS  # ... of bucket b <= b_hi at t < t_hi
    # A series' hours are joined as bytes and decoded once: per-hour arrays extended into
    # lists cost ~3x more on a 24 h read (4,800 blobs for 200 series).
    shared_ends: dict[tuple[int | bytes, ...], list[int]] = {}
    for sid, group in itertools.groupby(rows, key=itemgetter(0)):
        hours = list(group)
        value_bytes = b"".join([data[len(data) // 16 * 8 :] for _, _, data in hours])
        stamps: Sequence[int]
        if at_last_sample:
            last_ms = array("q")
            last_ms.frombytes(b"".join([data[: len(data) // 16 * 8] for _, _, data in hours]))
            stamps = last_ms
        else:
            stamps = _bucket_ends(hours, shared_ends)
        values = array("d")
        values.frombytes(value_bytes)
        n = len(stamps)
        lo = bisect.bisect_left(stamps, t_lo) if n and stamps[0] < t_lo else 0
        hi = bisect.bisect_left(stamps, t_hi) if n and stamps[-1] >= t_hi else n
        if lo < hi:
            kept = stamps[lo:hi]  # a list's slice is already a fresh list
            out[sid] = (
                kept if isinstance(kept, list) else kept.tolist(),
                values[lo:hi].tolist(),
            )
    return out


_FULL_HOUR = HOUR_MS // MINUTE_MS * 16  # a minute_lasts blob with every minute of its hour


def _bucket_ends(
    hours: list[tuple[int, int, bytes]], shared: dict[tuple[int | bytes, ...], list[int]]
) -> list[int]:
    """The end (``bucket + 1 min - 1 ms``) of every bucket in one series' hour blobs.

    Why not from the stored times: converting each last-sample time cost three C-level maps
    per point, more than half of a 24 h read. An hour with all 60 minutes (the usual case)
    has its ends known without looking, and series with the same hours (full ones, or the
    same stored times) share one list (``shared``, per read; callers slice it, a copy).
    """
    key = tuple(
        hour if len(data) == _FULL_HOUR else data[: len(data) // 16 * 8] for _, hour, data in hours
    )
    ends = shared.get(key)
    if ends is None:
        ends = shared[key] = []
        for part in key:
            if isinstance(part, int):
                ends.extend(range(part + MINUTE_MS - 1, part + HOUR_MS, MINUTE_MS))
            else:
                last_ms = array("q")
                last_ms.frombytes(part)
                ends.extend([t - t % MINUTE_MS + MINUTE_MS - 1 for t in last_ms])
    return ends


def pack_minute_lasts(conn: sqlite3.Connection, start: int, end: int, ids: set[int]) -> None:
    """Re-pack ``minute_lasts`` of ``ids`` for every hour overlapping ``[start, end)`` from
    their minute rollups (run with every minute rollup write, so both always agree)."""
    if not ids:
        return
    param = _ids_param(ids)
    for hour in range(start // HOUR_MS * HOUR_MS, end, HOUR_MS):
        rows = conn.execute(
            "SELECT series_id, last_ms, last FROM rollups WHERE res = ? AND bucket >= ?"
            " AND bucket < ? AND series_id IN (SELECT value FROM json_each(?))"
            " AND last IS NOT NULL ORDER BY series_id, bucket",
            (MINUTE_MS, hour, hour + HOUR_MS, param),
        ).fetchall()
        blobs = []
        for sid, group in itertools.groupby(rows, key=lambda r: r[0]):
            points = list(group)
            blob = array("q", [p[1] for p in points]).tobytes()
            blobs.append((sid, hour, blob + array("d", [p[2] for p in points]).tobytes()))
        conn.executemany(
            "INSERT OR REPLACE INTO minute_lasts (series_id, hour, data) VALUES (?, ?, ?)", blobs
        )


_NONE: Points = ([], [])


def _before(points: Points, limit: float) -> Points:
    k = bisect.bisect_left(points[0], limit)
    return points if k == len(points[0]) else (points[0][:k], points[1][:k])


def _after(points: Points, limit: float) -> Points:
    k = bisect.bisect_right(points[0], limit)
    return points if k == 0 else (points[0][k:], points[1][k:])


def _first(*layers: Points) -> float:
    return next((p[0][0] for p in layers if p[0]), math.inf)


def _join(*layers: Points) -> Points:
    """The layers' points one after the other. Every layer is made fresh by the read that
    joins them, so the first non-empty one is extended in place (a 24 h read would
    otherwise copy its ~1,440 minute points per series once more)."""
    parts = [p for p in layers if p[0]]
    if len(parts) <= 1:
        return parts[0] if parts else ([], [])
    first = parts[0]
    for p in parts[1:]:
        first[0].extend(p[0])
        first[1].extend(p[1])
    return first


def _bucket_lasts(points: Points, res: int) -> Points:
    """Samples as rollups of ``res`` hold them: each bucket's last non-NaN sample.

    The part of a coarse read finer than ``res`` (raw samples after the watermark; minute
    rollups after the last hour one) goes through this so a window spanning the seam sees
    evenly spaced points: mixing minute points with 15 s samples skewed ``rate``'s
    extrapolation by up to 4 %, hour points with minute ones ``increase`` by 10 %
    (measured in the tolerance test)."""
    stamps: list[int] = []
    values: list[float] = []
    bucket = None
    for t, v in zip(*points, strict=True):
        if v != v:
            continue  # rollups leave NaN (and the staleness marker) out
        if t // res == bucket:
            stamps[-1], values[-1] = t, v
        else:
            bucket = t // res
            stamps.append(t)
            values.append(v)
    return stamps, values


class StoreReader:
    """``SampleReader`` (compat_prom.query.reader) on the SQLite store.

    Raw samples answer where they exist, unless the caller's ``resolution_ms`` is coarse
    enough for rollups: from one minute on, the rolled-up part of the range (up to the rollup
    watermark) is read from minute rollups, from one hour on from hour rollups, and only the
    newest, not yet rolled-up minutes from raw samples (the step grid cannot use more than
    one point per step; docs/prometheus-api.md, "precision"). Where raw samples no longer
    cover the start of a range (past RETENTION_RAW), minute rollups answer, and before those
    hour rollups. A rollup bucket is one sample at the bucket's last millisecond holding the
    bucket's last value (counters stay cumulative).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def select(
        self,
        matchers: Sequence[Matcher],
        start_ms: int,
        end_ms: int,
        *,
        resolution_ms: int = 0,
    ) -> list[SeriesSamples]:
        found = find_series(self.conn, matchers, start_ms, end_ms)
        ids = [s.id for s in found]
        done = None
        if ids and resolution_ms >= MINUTE_MS:
            text = get_meta(self.conn, WATERMARK_KEY)
            done = None if text is None else int(text)
        if done is not None and start_ms < done:
            points = self._coarse(ids, start_ms, end_ms, done, resolution_ms >= HOUR_MS)
        else:
            points = self._fine(ids, start_ms, end_ms)
        result: list[SeriesSamples] = []
        for s in found:
            timestamps, values = points.get(s.id, _NONE)
            if timestamps:
                result.append(SeriesSamples(s.labels, timestamps, values))
        return result

    def _fine(self, ids: list[int], start_ms: int, end_ms: int) -> dict[int, Points]:
        """Raw samples, with rollups only before a series' raw data begins."""
        raw = raw_points(self.conn, ids, start_ms, end_ms)
        need_old: list[int] = []
        if ids and start_ms < earliest_raw_ms(self.conn) + BLOCK_MS:
            # only then can a series' raw data have been cut by retention inside the range
            starts = raw_starts(self.conn, ids, start_ms)
            need_old = [sid for sid in ids if starts.get(sid, end_ms + 1) > start_ms]
        if not need_old:
            return raw
        # rollups are needed only up to where the latest of these series' raw data starts
        old_end = min(end_ms, max(starts.get(sid, end_ms) for sid in need_old))
        minute = rollup_points(self.conn, need_old, MINUTE_MS, start_ms, old_end)
        later: dict[int, Points] = {}
        for sid in need_old:
            r = raw.get(sid, _NONE)
            later[sid] = _join(_before(minute.get(sid, _NONE), _first(r)), r)
        hour = self._hours_before(later, start_ms, old_end, at_last_sample=False)
        for sid in need_old:
            m_r = later[sid]
            raw[sid] = _join(_before(hour.get(sid, _NONE), _first(m_r)), m_r)
        return raw

    def _hours_before(
        self, later: dict[int, Points], start_ms: int, end_ms: int, *, at_last_sample: bool
    ) -> dict[int, Points]:
        """Hour rollups of the series in ``later``, where those are needed: before each
        series' first later point (minute rollup or raw), i.e. where minute rollups were
        deleted by retention.

        Why bound the read: a minute-resolution range that starts near the oldest minute
        rollups would otherwise read every series' hour rows (one statement each) only to
        drop them all. Only hour points before the latest of the series' first later
        points can be kept; when no hour row lies there, nothing is read.
        """
        if not later or start_ms >= earliest_rollup_ms(self.conn, MINUTE_MS) + HOUR_MS:
            return {}
        first = max(_first(points) for points in later.values())
        # a kept hour point is at t < first; with last-sample times its bucket ends < +1 h
        bound = first - 1 + (HOUR_MS if at_last_sample else 0)
        end = int(min(end_ms, bound))
        if (
            end < start_ms
            or not self.conn.execute(
                "SELECT 1 FROM rollups WHERE res = ? AND bucket BETWEEN ? AND ? LIMIT 1",
                (HOUR_MS, start_ms - HOUR_MS + 1, end - HOUR_MS + 1),
            ).fetchone()
        ):
            return {}
        return rollup_points(
            self.conn, list(later), HOUR_MS, start_ms, end, at_last_sample=at_last_sample
        )

    def _coarse(
        self, ids: list[int], start_ms: int, end_ms: int, done: int, hourly: bool
    ) -> dict[int, Points]:
        """Rollups up to the watermark ``done`` (hour ones first when ``hourly``), raw after."""
        rolled_end = min(end_ms, done - 1)
        raw = raw_points(self.conn, ids, done, end_ms) if done <= end_ms else {}
        # Hour rollups exist for every hour that ended before the watermark, so an hourly read
        # needs minutes only from the hour before; a minute read needs hours only where
        # minute rollups were already deleted by retention.
        minute_from = max(start_ms, done // HOUR_MS * HOUR_MS - HOUR_MS) if hourly else start_ms
        minute = rollup_points(
            self.conn, ids, MINUTE_MS, minute_from, rolled_end, at_last_sample=True
        )
        later: dict[int, Points] = {}
        for sid in ids:
            r = _bucket_lasts(raw.get(sid, _NONE), MINUTE_MS)
            # a bucket's last sample can precede the range its end falls in
            later[sid] = _join(_after(minute.get(sid, _NONE), start_ms - 1), r)
        if not hourly:
            hour = self._hours_before(later, start_ms, rolled_end, at_last_sample=True)
            for sid in ids:
                h = _after(hour.get(sid, _NONE), start_ms - 1)
                later[sid] = _join(_before(h, _first(later[sid])), later[sid])
            return later
        hour = rollup_points(self.conn, ids, HOUR_MS, start_ms, rolled_end, at_last_sample=True)
        out: dict[int, Points] = {}
        for sid in ids:
            h = _after(hour.get(sid, _NONE), start_ms - 1)
            m_r = later[sid]
            rest = _after(m_r, h[0][-1]) if h[0] else m_r
            out[sid] = _join(h, _bucket_lasts(rest, HOUR_MS))
        return out

    def _with_data(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[_Series]:
        found = find_series(self.conn, matchers, start_ms, end_ms)
        keep = series_with_data(self.conn, [s.id for s in found], start_ms, end_ms)
        return [s for s in found if s.id in keep]

    def series(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Labels]:
        return [s.labels for s in self._with_data(matchers, start_ms, end_ms)]

    def label_names(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[str]:
        return sorted(_keys_with_data(self.conn, None, matchers, start_ms, end_ms))

    def label_values(
        self, name: str, matchers: Sequence[Matcher], start_ms: int, end_ms: int
    ) -> list[str]:
        return sorted(v for v in _keys_with_data(self.conn, name, matchers, start_ms, end_ms) if v)


def _keys_with_data(
    conn: sqlite3.Connection,
    name: str | None,
    matchers: Sequence[Matcher],
    start_ms: int,
    end_ms: int,
) -> set[str]:
    """Label names (``name`` None) or the values of label ``name`` carried by a matching
    series with samples in the range, answered from the postings index alone.

    A key is shown once ONE of its series has data in the range, so each key is checked on
    its most recent series first (one row per key from SQL), and only the keys whose
    representative has no data there are checked on their other series. No labels JSON is
    parsed: Grafana's metric browser asks this for every series (< 5 ms for ~1,000 series,
    docs/prometheus-api.md).
    """
    resolved = _resolve_postings(conn, matchers)
    if resolved is None:
        return set()
    candidates, excluded, _ = resolved
    key = "p.name" if name is None else "p.value"
    where = "s.kind = 0 AND s.last_ms >= ? AND s.first_ms <= ?"
    params: list[Any] = [start_ms, end_ms]
    if name is not None:
        where += " AND p.name = ?"
        params.append(name)
    if candidates is not None:
        where += " AND p.series_id IN (SELECT value FROM json_each(?))"
        params.append(_ids_param(candidates))
    if excluded:
        where += " AND p.series_id NOT IN (SELECT value FROM json_each(?))"
        params.append(_ids_param(excluded))
    joined = f"FROM postings p JOIN series s ON s.id = p.series_id WHERE {where}"
    reps: dict[int, list[str]] = defaultdict(list)
    for k, sid, _ in conn.execute(
        f"SELECT {key}, p.series_id, max(s.last_ms) {joined} GROUP BY {key}", params
    ):
        reps[sid].append(k)
    have = series_with_data(conn, list(reps), start_ms, end_ms)
    keys = {k for sid in have for k in reps[sid]}
    missing = [k for sid, ks in reps.items() if sid not in have for k in ks]
    if missing:
        others: dict[int, list[str]] = defaultdict(list)
        for k, sid in conn.execute(
            f"SELECT {key}, p.series_id {joined} AND {key} IN (SELECT value FROM json_each(?))",
            [*params, json.dumps(missing)],
        ):
            if sid not in reps:
                others[sid].append(k)
        for sid in series_with_data(conn, list(others), start_ms, end_ms):
            keys.update(others[sid])
    return keys


# --- observations, native totals, metadata, stats --------------------------------------------


def add_observations(conn: sqlite3.Connection, rows: Sequence[tuple[int, int, float]]) -> None:
    """Raw native-histogram observations (series id, ts, value), duplicates allowed."""
    if not rows:
        return
    bounds: dict[int, list[int]] = {}
    for sid, ts, _ in rows:
        seen = bounds.setdefault(sid, [ts, ts])
        seen[0], seen[1] = min(seen[0], ts), max(seen[1], ts)
    _touch_series(conn, bounds)  # a series seen first at 00:59 has samples at 01:00 too
    conn.executemany("INSERT INTO observations (series_id, ts, value) VALUES (?, ?, ?)", rows)
    _mark_late(conn, min(lo for lo, _ in bounds.values()), (ts for _, ts, _ in rows))


def get_totals(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, float]:
    """Durable running totals of native counters (SPEC counters arrive as increments)."""
    return {
        sid: total
        for sid, total in conn.execute(
            "SELECT series_id, total FROM native_totals WHERE series_id IN"
            " (SELECT value FROM json_each(?))",
            (_ids_param(set(ids)),),
        )
    }


def set_totals(conn: sqlite3.Connection, totals: dict[int, float]) -> None:
    conn.executemany(
        "INSERT INTO native_totals (series_id, total) VALUES (?, ?)"
        " ON CONFLICT (series_id) DO UPDATE SET total = excluded.total",
        list(totals.items()),
    )


def put_metadata(conn: sqlite3.Connection, items: Iterable[tuple[str, str, str, str]]) -> None:
    """(metric family name, type, help, unit); the newest wins."""
    conn.executemany(
        "INSERT INTO metadata (name, type, help, unit) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET type = excluded.type,"
        " help = CASE WHEN excluded.help != '' THEN excluded.help ELSE help END,"
        " unit = CASE WHEN excluded.unit != '' THEN excluded.unit ELSE unit END",
        list(items),
    )


def metadata(
    conn: sqlite3.Connection, metric: str | None = None, limit: int | None = None
) -> dict[str, list[dict[str, str]]]:
    """Prometheus ``/api/v1/metadata`` data: {name: [{type, help, unit}]}."""
    sql = "SELECT name, type, help, unit FROM metadata"
    params: list[Any] = []
    if metric:
        sql += " WHERE name = ?"
        params.append(metric)
    sql += " ORDER BY name"
    if limit is not None and limit >= 0:
        sql += " LIMIT ?"
        params.append(limit)
    return {
        name: [{"type": t, "help": h, "unit": u}] for name, t, h, u in conn.execute(sql, params)
    }


def samples_received_since(conn: sqlite3.Connection, since_ms: int) -> int:
    row = conn.execute(
        "SELECT coalesce(sum(samples), 0) FROM ingest_stats WHERE hour >= ?",
        (since_ms // HOUR_MS * HOUR_MS,),
    ).fetchone()
    return int(row[0])


def iter_latest(
    conn: sqlite3.Connection, matcher_sets: Sequence[Sequence[Matcher]], since_ms: int
) -> Iterator[tuple[Labels, int, float]]:
    """The latest sample of every series (matching any matcher set) seen since ``since_ms``."""
    chosen: dict[int, _Series] = {}
    for matchers in matcher_sets or [()]:
        for s in find_series(conn, matchers, since_ms, None):
            chosen[s.id] = s
    ids = list(chosen)
    latest: dict[int, tuple[int, float]] = {}
    for i in range(0, len(ids), 5000):
        part = ids[i : i + 5000]
        for sid, (stamps, values) in raw_points(conn, part, since_ms, 2**62).items():
            if stamps:
                latest[sid] = (stamps[-1], values[-1])
    for sid in sorted(latest, key=lambda x: chosen[x].labels.items_tuple):
        ts, value = latest[sid]
        yield chosen[sid].labels, ts, value


# --- rollups -------------------------------------------------------------------------------

_ROLLUP_COLS = "count, sum, min, max, last, last_ms, increase, p50, p95, p99, sketch"


def earliest_data_ms(conn: sqlite3.Connection) -> int | None:
    lows = [
        conn.execute(sql).fetchone()[0]
        for sql in (
            "SELECT min(min_ms) FROM chunks",
            "SELECT min(ts) FROM head",
            "SELECT min(ts) FROM observations",
        )
    ]
    found = [x for x in lows if x is not None]
    return min(found) if found else None


def rollup_sources(
    conn: sqlite3.Connection, start: int, end: int, ids: set[int] | None = None
) -> Iterator[tuple[int, int, list[int], list[float]]]:
    """(series id, kind, timestamps, values) of every series (of ``ids`` when given) with
    data in ``[start, end)``.

    Streams series by series from the chunks (only the head's rows of the window are held
    at once), so rolling up an hour of 1,000 series does not hold 240,000 samples in dicts.
    """
    only = "" if ids is None else " AND series_id IN (SELECT value FROM json_each(?))"
    extra: tuple[str, ...] = () if ids is None else (_ids_param(ids),)
    head: dict[int, dict[int, int]] = defaultdict(dict)
    for sid, ts, b in conn.execute(
        f"SELECT series_id, ts, value FROM head WHERE ts >= ? AND ts < ?{only}",
        (start, end, *extra),
    ):
        head[sid][ts] = b & 0xFFFFFFFFFFFFFFFF

    def finish(sid: int, points: dict[int, int]) -> tuple[int, int, list[int], list[float]]:
        points.update(head.pop(sid, {}))
        stamps = sorted(points)
        return sid, KIND_SAMPLES, stamps, chunkcodec.bits_to_floats([points[t] for t in stamps])

    current: int | None = None
    points: dict[int, int] = {}
    for sid, data in conn.execute(
        f"SELECT series_id, data FROM chunks WHERE block BETWEEN ? AND ?"
        f" AND max_ms >= ? AND min_ms < ?{only} ORDER BY series_id",
        (start // BLOCK_MS, (end - 1) // BLOCK_MS, start, end, *extra),
    ):
        if sid != current:
            if current is not None:
                yield finish(current, points)
            current, points = sid, {}
        timestamps, bits = chunkcodec.decode(data)
        for ts, b in zip(timestamps, bits, strict=True):
            if start <= ts < end:
                points[ts] = b
    if current is not None:
        yield finish(current, points)
    for sid in list(head):
        yield finish(sid, {})
    obs: dict[int, tuple[list[int], list[float]]] = {}
    for sid, ts, value in conn.execute(
        f"SELECT series_id, ts, value FROM observations WHERE ts >= ? AND ts < ?{only}",
        (start, end, *extra),
    ):
        t_list, v_list = obs.setdefault(sid, ([], []))
        t_list.append(ts)
        v_list.append(value)
    for sid, (t_list, v_list) in obs.items():
        yield sid, KIND_OBSERVATIONS, t_list, v_list


def previous_lasts(
    conn: sqlite3.Connection, start: int, lookback_ms: int = 600_000
) -> dict[int, float]:
    """Each series' last value in the minute rollups just before ``start`` (for increase)."""
    out: dict[int, float] = {}
    for sid, last in conn.execute(
        "SELECT series_id, last FROM rollups WHERE res = ? AND bucket >= ? AND bucket < ?"
        " AND last IS NOT NULL ORDER BY bucket",
        (MINUTE_MS, start - lookback_ms, start),
    ):
        out[sid] = last
    return out


def put_rollups(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    conn.executemany(
        f"INSERT OR REPLACE INTO rollups (series_id, res, bucket, {_ROLLUP_COLS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def minute_rows(conn: sqlite3.Connection, start: int, end: int) -> dict[int, list[tuple[Any, ...]]]:
    """Minute rollups in ``[start, end)`` per series, oldest first (columns of _ROLLUP_COLS)."""
    out: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in conn.execute(
        f"SELECT series_id, {_ROLLUP_COLS} FROM rollups WHERE res = ? AND bucket >= ?"
        " AND bucket < ? ORDER BY bucket",
        (MINUTE_MS, start, end),
    ):
        out[row[0]].append(tuple(row[1:]))
    return out


def take_dirty(conn: sqlite3.Connection, res: int, limit: int) -> list[int]:
    buckets = [
        r[0]
        for r in conn.execute(
            "SELECT bucket FROM rollup_dirty WHERE res = ? ORDER BY bucket LIMIT ?", (res, limit)
        )
    ]
    conn.executemany(
        "DELETE FROM rollup_dirty WHERE res = ? AND bucket = ?", [(res, b) for b in buckets]
    )
    return buckets


@dataclass
class RollupRow:
    series_id: int
    labels: Labels
    bucket: int
    count: int
    sum: float
    min: float
    max: float
    last: float | None
    increase: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    sketch: bytes | None


def matching_series(
    conn: sqlite3.Connection,
    matchers: Sequence[Matcher],
    start: int,
    kinds: Sequence[int] = (KIND_SAMPLES, KIND_OBSERVATIONS),
) -> dict[int, Labels]:
    """{id: labels} of the series of ``kinds`` matching, with data since about ``start``."""
    return {
        s.id: s.labels for kind in kinds for s in find_series(conn, matchers, start, None, kind)
    }


def rollups_for(
    conn: sqlite3.Connection,
    matchers: Sequence[Matcher],
    res: int,
    start: int,
    end: int,
    kinds: Sequence[int] = (KIND_SAMPLES, KIND_OBSERVATIONS),
) -> list[RollupRow]:
    """Rollup rows of the matching series with buckets in ``[start, end)``."""
    by_id = matching_series(conn, matchers, start, kinds)
    if not by_id:
        return []
    out: list[RollupRow] = []
    for row in conn.execute(
        "SELECT series_id, bucket, count, sum, min, max, last, increase, p50, p95, p99, sketch"
        " FROM rollups WHERE res = ? AND series_id IN (SELECT value FROM json_each(?))"
        " AND bucket >= ? AND bucket < ? ORDER BY bucket",
        (res, _ids_param(by_id), start, end),
    ):
        out.append(RollupRow(row[0], by_id[row[0]], *row[1:]))
    return out


def metric_names(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(name, type) of every metric: SPEC §6.5.3; type from metadata, else guessed."""
    types = {name: t for name, t in conn.execute("SELECT name, type FROM metadata")}
    out = []
    for (name,) in conn.execute("SELECT DISTINCT name FROM series WHERE name != '' ORDER BY name"):
        out.append((name, types.get(name, "")))
    return out


def series_kinds(conn: sqlite3.Connection, name: str) -> set[int]:
    return {r[0] for r in conn.execute("SELECT DISTINCT kind FROM series WHERE name = ?", (name,))}


# --- retention -------------------------------------------------------------------------------


def delete_raw_before(conn: sqlite3.Connection, cutoff_ms: int, limit: int) -> int:
    """Raw samples and observations older than ``cutoff_ms``, at most ``limit`` rows each."""
    n = conn.execute(
        "DELETE FROM chunks WHERE id IN (SELECT id FROM chunks WHERE max_ms < ? LIMIT ?)",
        (cutoff_ms, limit),
    ).rowcount
    n += conn.execute(
        "DELETE FROM head WHERE (ts, series_id) IN"
        " (SELECT ts, series_id FROM head WHERE ts < ? LIMIT ?)",
        (cutoff_ms, limit),
    ).rowcount
    n += conn.execute(
        "DELETE FROM observations WHERE rowid IN"
        " (SELECT rowid FROM observations WHERE ts < ? LIMIT ?)",
        (cutoff_ms, limit),
    ).rowcount
    return n


def delete_rollups_before(conn: sqlite3.Connection, res: int, cutoff_ms: int, limit: int) -> int:
    if res == MINUTE_MS:  # the packed copies of hours wholly past the cutoff
        conn.execute(
            "DELETE FROM minute_lasts WHERE (series_id, hour) IN (SELECT series_id, hour"
            " FROM minute_lasts WHERE hour <= ? LIMIT ?)",
            (cutoff_ms - HOUR_MS, limit),
        )
    return conn.execute(
        "DELETE FROM rollups WHERE (series_id, res, bucket) IN (SELECT series_id, res, bucket"
        " FROM rollups WHERE res = ? AND bucket < ? LIMIT ?)",
        (res, cutoff_ms, limit),
    ).rowcount


def delete_dead_series(conn: sqlite3.Connection, cutoff_ms: int, limit: int) -> int:
    """Series with no data since ``cutoff_ms`` and nothing left in any table."""
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM series s WHERE last_ms < ?"
            " AND NOT EXISTS (SELECT 1 FROM rollups r WHERE r.series_id = s.id)"
            " AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.series_id = s.id)"
            " AND NOT EXISTS (SELECT 1 FROM head h WHERE h.series_id = s.id) LIMIT ?",
            (cutoff_ms, limit),
        )
    ]
    if ids:
        param = (_ids_param(ids),)
        for table, col in (
            ("postings", "series_id"),
            ("native_totals", "series_id"),
            ("minute_lasts", "series_id"),
        ):
            conn.execute(
                f"DELETE FROM {table} WHERE {col} IN (SELECT value FROM json_each(?))", param
            )
        conn.execute("DELETE FROM series WHERE id IN (SELECT value FROM json_each(?))", param)
        forget_known(conn)
    conn.execute("DELETE FROM ingest_stats WHERE hour < ?", (cutoff_ms,))
    return len(ids)
