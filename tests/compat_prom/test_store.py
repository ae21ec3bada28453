from __future__ import annotations

import math
import random
import struct
from pathlib import Path

from compat_prom import store
from compat_prom.query.reader import STALE_NAN_BITS
from core.labels import Labels, Matcher
from tests.compat_prom.helpers import metrics_db, write

STALE = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
T0 = 1_764_000_000_000


def bits(v: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", v))[0])


def lab(name: str, **kw: str) -> Labels:
    return Labels({"__name__": name, **kw})


def test_append_and_select_with_out_of_order_and_stale(tmp_path: Path) -> None:
    with metrics_db(tmp_path) as (w, r):
        a = lab("up", job="a")
        b = lab("up", job="b")
        write(w, lambda c: store.append_samples(c, [(a, [T0 + 30_000, T0], [2.0, 1.0])]))
        write(w, lambda c: store.append_samples(c, [(a, [T0 + 15_000], [STALE]), (b, [T0], [5])]))
        reader = store.StoreReader(r)
        got = reader.select([Matcher("__name__", "=", "up")], T0, T0 + 60_000)
        assert [s.labels for s in got] == [a, b]
        assert list(got[0].timestamps) == [T0, T0 + 15_000, T0 + 30_000]
        assert bits(got[0].values[1]) == STALE_NAN_BITS
        assert got[0].values[2] == 2.0
        got = reader.select([Matcher("job", "!=", "a")], T0, T0)
        assert [s.labels for s in got] == [b]


def test_matchers_and_label_queries(tmp_path: Path) -> None:
    with metrics_db(tmp_path) as (w, r):
        batch = [
            (lab("http_requests_total", method=m, status=s), [T0], [1.0])
            for m in ("GET", "POST")
            for s in ("200", "500")
        ]
        batch.append((lab("other"), [T0], [1.0]))
        write(w, lambda c: store.append_samples(c, batch))
        reader = store.StoreReader(r)

        def names(ms: list[Matcher]) -> list[str]:
            return [f"{s.get('method')}/{s.get('status')}" for s in reader.series(ms, T0, T0)]

        assert names([Matcher("status", "=~", "5..")]) == ["GET/500", "POST/500"]
        assert names([Matcher("status", "!~", "5..|")]) == ["GET/200", "POST/200"]
        assert len(names([Matcher("status", "=", "")])) == 1  # only `other` lacks status
        assert names([Matcher("method", "=", "GET"), Matcher("status", "!=", "200")]) == ["GET/500"]
        assert reader.label_values("method", [], T0, T0) == ["GET", "POST"]
        assert reader.label_names([Matcher("__name__", "=", "other")], T0, T0) == ["__name__"]
        assert reader.series([Matcher("__name__", "=", "other")], T0 + 1, T0 + 2) == []


def test_label_queries_only_count_series_with_samples_in_the_range(tmp_path: Path) -> None:
    """The postings-only label answers check samples, not just the series' hour bounds."""
    with metrics_db(tmp_path) as (w, r):
        a, b = lab("m", k="a"), lab("m", k="b")
        gap = [T0 - 1_800_000, T0 + 3 * 3_600_000]  # b's bounds cover T0, its samples do not
        write(w, lambda c: store.append_samples(c, [(a, [T0], [1.0]), (b, gap, [1.0, 2.0])]))
        reader = store.StoreReader(r)
        # b is m's most recent series (checked first) and has nothing at T0: a answers for m
        assert reader.label_values("__name__", [], T0, T0 + 1) == ["m"]
        assert reader.label_values("k", [], T0, T0 + 1) == ["a"]
        assert reader.label_values("k", [Matcher("k", "!=", "a")], T0, T0 + 1) == []
        assert reader.label_names([Matcher("k", "=~", "b|c")], T0, T0 + 1) == []
        assert reader.label_names([Matcher("k", "=~", "b|c")], gap[1], gap[1]) == ["__name__", "k"]
        while write(w, lambda c: store.compact_head(c, gap[1] + store.BLOCK_MS * 2)):
            pass  # the same answers from packed chunks
        assert reader.label_values("k", [], T0, T0 + 1) == ["a"]
        assert reader.label_values("k", [], gap[1] - 1, gap[1] + 1) == ["b"]


def test_compaction_keeps_values_bit_exact_and_merges_late_samples(tmp_path: Path) -> None:
    rng = random.Random(7)
    with metrics_db(tmp_path) as (w, r):
        s = lab("g", k="v")
        ts = [T0 + i * 15_000 for i in range(600)]
        vals = [rng.choice([rng.random(), 1.0, math.nan, STALE, -0.0, math.inf]) for _ in ts]
        write(w, lambda c: store.append_samples(c, [(s, ts[::2], vals[::2])]))
        while write(w, lambda c: store.compact_head(c, ts[-1] + store.BLOCK_MS * 2)):
            pass
        assert r.execute("SELECT count(*) FROM head").fetchone()[0] == 0
        write(w, lambda c: store.append_samples(c, [(s, ts[1::2], vals[1::2])]))
        while write(w, lambda c: store.compact_head(c, ts[-1] + store.BLOCK_MS * 2)):
            pass
        (got,) = store.StoreReader(r).select([Matcher("k", "=", "v")], ts[0], ts[-1])
        assert list(got.timestamps) == ts
        assert [bits(v) for v in got.values] == [bits(v) for v in vals]


def test_select_merges_head_samples_overlapping_packed_blocks(tmp_path: Path) -> None:
    with metrics_db(tmp_path) as (w, r):
        s = lab("g")
        ts = [T0 + i * 15_000 for i in range(240)]  # two 30-minute blocks
        write(w, lambda c: store.append_samples(c, [(s, ts, [float(i) for i in range(240)])]))
        while write(w, lambda c: store.compact_head(c, ts[-1] + store.BLOCK_MS * 2)):
            pass
        reader = store.StoreReader(r)
        (got,) = reader.select([Matcher("__name__", "=", "g")], ts[5], ts[200])
        assert list(got.timestamps) == ts[5:201]  # cut inside the first and last block
        assert list(got.values) == [float(i) for i in range(5, 201)]
        late = [ts[10], ts[10] + 1, ts[-1] + 15_000]  # overwrite, insert, append
        write(w, lambda c: store.append_samples(c, [(s, late, [STALE, -1.0, -2.0])]))
        (got,) = reader.select([Matcher("__name__", "=", "g")], ts[0], late[-1])
        assert list(got.timestamps) == sorted([*ts, late[1], late[2]])
        assert bits(got.values[10]) == STALE_NAN_BITS  # the head wins, bit-exact
        assert got.values[11] == -1.0
        assert got.values[12] == 11.0
        assert got.values[-1] == -2.0


def test_duplicate_timestamp_last_write_wins_and_empty_label_dropped(tmp_path: Path) -> None:
    with metrics_db(tmp_path) as (w, r):
        write(w, lambda c: store.append_samples(c, [(lab("x", a=""), [T0], [1.0])]))
        write(w, lambda c: store.append_samples(c, [(lab("x"), [T0], [2.0])]))
        (got,) = store.StoreReader(r).select([Matcher("__name__", "=", "x")], T0, T0)
        assert got.labels == lab("x")
        assert list(got.values) == [2.0]


def test_metadata_roundtrip(tmp_path: Path) -> None:
    with metrics_db(tmp_path) as (w, r):
        write(w, lambda c: store.put_metadata(c, [("up", "gauge", "Is it up", "")]))
        write(w, lambda c: store.put_metadata(c, [("a_total", "counter", "A", "")]))
        assert store.metadata(r) == {
            "a_total": [{"type": "counter", "help": "A", "unit": ""}],
            "up": [{"type": "gauge", "help": "Is it up", "unit": ""}],
        }
        assert list(store.metadata(r, limit=1)) == ["a_total"]
        assert list(store.metadata(r, metric="up")) == ["up"]
