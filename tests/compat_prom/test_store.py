from __future__ import annotations

import math
import random
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_packing_the_open_block_keeps_the_head_short(tmp_path: Path) -> None:
    """The open block's settled rows move to its chunk; later ones (and late arrivals for
    the packed part) stay in the head until the next pack, and reads see one series."""
    with metrics_db(tmp_path) as (w, r):
        s = lab("g")
        block0 = T0 // store.BLOCK_MS * store.BLOCK_MS
        ts = [block0 + i * 15_000 for i in range(80)]  # 20 minutes of the block
        write(w, lambda c: store.append_samples(c, [(s, ts, [float(i) for i in range(80)])]))
        upto = ts[60]  # 15 minutes in
        assert write(w, lambda c: store.pack_open_block(c, upto, 16 * 60_000)) == 0  # too short
        assert write(w, lambda c: store.pack_open_block(c, upto, 10 * 60_000)) == 60
        assert r.execute("SELECT min(ts), count(*) FROM head").fetchone() == (ts[60], 20)
        assert r.execute("SELECT min_ms, max_ms, n FROM chunks").fetchone() == (ts[0], ts[59], 60)
        write(w, lambda c: store.append_samples(c, [(s, [ts[3]], [-3.0])]))  # late, packed part
        (got,) = store.StoreReader(r).select([Matcher("__name__", "=", "g")], ts[0], ts[-1])
        assert list(got.timestamps) == ts and got.values[3] == -3.0 and got.values[79] == 79.0
        assert write(w, lambda c: store.pack_open_block(c, ts[-1] + 1, 60_000)) == 21
        assert r.execute("SELECT count(*) FROM head").fetchone()[0] == 0
        (got,) = store.StoreReader(r).select([Matcher("__name__", "=", "g")], ts[0], ts[-1])
        assert list(got.timestamps) == ts and got.values[3] == -3.0 and got.values[79] == 79.0


PACKING_RUNS = iter(range(10**6))


@pytest.fixture(scope="module")
def packing_db(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[sqlite3.Connection, sqlite3.Connection]]:
    with metrics_db(tmp_path_factory.mktemp("packing")) as conns:
        yield conns


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(
                st.just("append"),
                st.lists(st.tuples(st.integers(0, 2), st.integers(0, 300)), max_size=40),
            ),
            st.tuples(st.just("pack_open"), st.integers(1, 300), st.integers(0, 20)),
            st.tuples(st.just("compact"), st.integers(0, 400), st.just(0)),
        ),
        max_size=12,
    )
)
def test_any_mix_of_appends_and_packing_reads_back_every_sample(
    packing_db: tuple[object, object], ops: list[tuple[object, ...]]
) -> None:
    """Samples over three 30-minute blocks (15 s apart), appended in any order and
    overwritten, with the open block packed and whole blocks compacted in between: every
    series reads back exactly its last written value at each time."""
    w, r = packing_db
    run = next(PACKING_RUNS)
    base = T0 // store.BLOCK_MS * store.BLOCK_MS
    series = [lab("mix", run=str(run), k=str(k)) for k in range(3)]
    want: dict[tuple[int, int], float] = {}
    for n_op, op in enumerate(ops):
        if op[0] == "append":
            batch = []
            for k, slot in op[1]:  # type: ignore[attr-defined]
                t, v = base + slot * 15_000, float(n_op * 1000 + slot)
                want[(k, t)] = v
                batch.append((series[k], [t], [v]))
            if batch:
                write(w, lambda c, b=batch: store.append_samples(c, b))  # type: ignore[arg-type]
        elif op[0] == "pack_open":
            upto = base + int(op[1]) * 15_000  # type: ignore[call-overload]
            write(w, lambda c, u=upto, m=int(op[2]) * 60_000: store.pack_open_block(c, u, m))  # type: ignore[call-overload, arg-type]
        else:
            cutoff = base + int(op[1]) * 15_000  # type: ignore[call-overload]
            while write(w, lambda c, x=cutoff: store.compact_head(c, x)):  # type: ignore[arg-type]
                pass
    got = store.StoreReader(r).select(  # type: ignore[arg-type]
        [Matcher("run", "=", str(run))], base, base + 301 * 15_000
    )
    seen = {
        (int(s.labels["k"]), t): v for s in got for t, v in zip(s.timestamps, s.values, strict=True)
    }
    assert seen == want


def test_raw_starts_are_exact_after_the_bound(tmp_path: Path) -> None:
    """A series packed from ``T0`` with an older sample still in the head: its start is
    exact when the bound lies before its chunks, and its chunks' start otherwise. Starts
    are exact for live series (head newer than the chunks) and head-only ones."""
    with metrics_db(tmp_path) as (w, r):
        s = lab("g")
        ts = [T0 + i * 15_000 for i in range(240)]
        write(w, lambda c: store.append_samples(c, [(s, ts, [1.0] * len(ts))]))
        while write(w, lambda c: store.compact_head(c, ts[-1] + store.BLOCK_MS * 2)):
            pass
        write(w, lambda c: store.append_samples(c, [(s, [T0 - 60_000], [0.5])]))  # backfill
        sid = s.fingerprint()
        first_chunk = r.execute("SELECT min(min_ms) FROM chunks").fetchone()[0]
        assert store.raw_starts(r, [sid], first_chunk - 1) == {sid: T0 - 60_000}
        assert store.raw_starts(r, [sid], first_chunk) == {sid: first_chunk}
        # a live series: packed, then newer samples in the head; and a new, head-only one
        live, new = lab("g", k="live"), lab("g", k="new")
        write(w, lambda c: store.append_samples(c, [(live, ts, [1.0] * len(ts))]))
        while write(w, lambda c: store.compact_head(c, ts[-1] + store.BLOCK_MS * 2)):
            pass
        later = [ts[-1] + 15_000, ts[-1] + 30_000]
        write(w, lambda c: store.append_samples(c, [(live, later, [2.0, 3.0])]))
        write(w, lambda c: store.append_samples(c, [(new, later, [2.0, 3.0])]))
        ids = [live.fingerprint(), new.fingerprint()]
        assert store.raw_starts(r, ids, T0 - 1) == {ids[0]: T0, ids[1]: later[0]}
