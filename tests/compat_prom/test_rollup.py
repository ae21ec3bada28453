"""Rollups on the real store: exact minute percentiles, reset-aware increase, idempotent
catch-up, late samples, hour sketches, retention and the reader's fallback to rollups."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compat_prom import rollup, store
from compat_prom.sketch import spec_rank
from core.labels import Labels, Matcher
from tests.compat_prom.helpers import metrics_db, write

H = 1_764_000_000_000 // store.HOUR_MS * store.HOUR_MS  # an hour boundary
M = store.MINUTE_MS
COUNTER = Labels({"__name__": "req_total", "e": "/a"})
OBS = Labels({"__name__": "lat", "e": "/a"})


def rows(conn: object, res: int) -> dict[tuple[int, int], tuple[object, ...]]:
    out = {}
    for r in conn.execute(  # type: ignore[attr-defined]
        "SELECT series_id, bucket, count, sum, min, max, last, increase, p50, p95, p99"
        " FROM rollups WHERE res = ?",
        (res,),
    ):
        out[(r[0], r[1])] = r[2:]
    return out


def run_all(w: object, now: int) -> None:
    while not write(w, lambda c: rollup.step(c, now)):
        pass


def test_minute_and_hour_rollups(tmp_path: Path) -> None:
    rng = random.Random(1)
    with metrics_db(tmp_path) as (w, r):
        # counter: 10, 20, 30 in minute 0; reset to 5, then 8 in minute 1
        ts = [H + 0, H + 15_000, H + 30_000, H + M, H + M + 15_000]
        write(w, lambda c: store.append_samples(c, [(COUNTER, ts, [10, 20, 30, 5, 8])]))
        obs_sid = write(w, lambda c: store.ensure_series(c, OBS, H, H, store.KIND_OBSERVATIONS))
        observed: dict[int, list[float]] = {}
        all_obs = []
        for minute in range(60):
            vals = [rng.lognormvariate(-2, 1) for _ in range(rng.randint(1, 50))]
            observed[minute] = vals
            all_obs += vals
            write(
                w,
                lambda c, vals=vals, minute=minute: store.add_observations(
                    c, [(obs_sid, H + minute * M + i, v) for i, v in enumerate(vals)]
                ),
            )
        run_all(w, H + 2 * store.HOUR_MS)
        minute_rows = rows(r, M)
        csid = COUNTER.fingerprint()
        count, total, lo, hi, last, inc, p50, *_ = minute_rows[(csid, H)]
        assert (count, total, lo, hi, last, inc, p50) == (3, 60, 10, 30, 30, 20, None)
        assert minute_rows[(csid, H + M)][4:6] == (8, 5 + 3)  # reset: 30 -> 5 counts 5, then +3
        for minute, vals in observed.items():
            got = minute_rows[(obs_sid, H + minute * M)]
            ordered = sorted(vals)
            assert got[0] == len(vals)
            assert got[6:9] == tuple(ordered[spec_rank(len(ordered), q)] for q in (0.5, 0.95, 0.99))
        hour = rows(r, store.HOUR_MS)
        assert hour[(csid, H)][5] == 28  # hour increase = sum of minute increases
        ordered = sorted(all_obs)
        for got, q in zip(hour[(obs_sid, H)][6:9], (0.5, 0.95, 0.99), strict=True):
            want = ordered[spec_rank(len(ordered), q)]
            assert abs(got - want) <= 0.01 * want
        # running again changes nothing (no double counting)
        run_all(w, H + 3 * store.HOUR_MS)
        assert rows(r, M) == minute_rows and rows(r, store.HOUR_MS) == hour
        # a late sample in a rolled-up minute is folded in at the next run
        write(w, lambda c: store.append_samples(c, [(COUNTER, [H + 45_000], [40])]))
        run_all(w, H + 3 * store.HOUR_MS)
        assert rows(r, M)[(csid, H)][:5] == (4, 100, 10, 40, 40)
        assert rows(r, store.HOUR_MS)[(csid, H)][0] == 6


def test_catch_up_after_downtime_and_reader_fallback(tmp_path: Path) -> None:
    with metrics_db(tmp_path) as (w, r):
        g = Labels({"__name__": "temp"})
        ts = [H + i * 15_000 for i in range(4 * 240)]  # four hours every 15 s
        write(w, lambda c: store.append_samples(c, [(g, ts, [float(i) for i in range(len(ts))])]))
        while write(w, lambda c: store.compact_head(c, ts[-1] + store.BLOCK_MS * 2)):
            pass
        steps = 0
        while not write(w, lambda c: rollup.step(c, H + 5 * store.HOUR_MS)):
            steps += 1
        assert steps >= 3  # bounded windows, one hour each
        sid = g.fingerprint()
        minute = rows(r, M)
        assert len([k for k in minute if k[0] == sid]) == 240
        assert sum(v[0] for k, v in minute.items() if k[0] == sid) == len(ts)
        # raw retention drops the first three hours; the reader answers from rollups there
        write(w, lambda c: store.delete_raw_before(c, H + 3 * store.HOUR_MS, 100_000))
        write(w, lambda c: store.delete_rollups_before(c, M, H + store.HOUR_MS, 100_000))
        (got,) = store.StoreReader(r).select([Matcher("__name__", "=", "temp")], H, ts[-1])
        t = list(got.timestamps)
        assert t[0] == H + store.HOUR_MS - 1  # hour bucket end, last value of the hour
        assert got.values[0] == 239.0
        assert t[1] == H + store.HOUR_MS + M - 1 and got.values[1] == 243.0  # minutes
        raw_from = t.index(H + 3 * store.HOUR_MS)
        assert raw_from == 1 + 120
        assert t == sorted(set(t)) and got.values[-1] == len(ts) - 1


def test_packed_minute_lasts_follow_the_minute_rollups(tmp_path: Path) -> None:
    """The per-hour packed copies the PromQL reader uses hold exactly the minute rows' (last
    time, last value), after late samples too, and go with them at retention."""
    with metrics_db(tmp_path) as (w, r):
        g = Labels({"__name__": "temp"})
        ts = [H + i * 15_000 for i in range(3 * 240)]
        write(w, lambda c: store.append_samples(c, [(g, ts, [i * 0.5 for i in range(len(ts))])]))
        run_all(w, H + 4 * store.HOUR_MS)
        late = H + 90 * M + 50_000  # a late sample, last of a minute already rolled up
        write(w, lambda c: store.append_samples(c, [(g, [late], [-3.0])]))
        run_all(w, H + 4 * store.HOUR_MS)
        sid = g.fingerprint()

        def packed() -> tuple[list[int], list[float]]:
            got = store.rollup_points(r, [sid], M, H, H + 3 * store.HOUR_MS, at_last_sample=True)
            return got.get(sid, ([], []))

        want = r.execute(
            "SELECT last_ms, last FROM rollups WHERE res = ? AND series_id = ? ORDER BY bucket",
            (M, sid),
        ).fetchall()
        assert packed() == ([t for t, _ in want], [v for _, v in want])
        assert len(want) == 180 and want[90] == (late, -3.0)
        assert want[91] == (H + 91 * M + 45_000, 367 * 0.5)  # 15 s samples: the minute's last
        write(w, lambda c: store.delete_rollups_before(c, M, H + store.HOUR_MS, 10**6))
        assert packed()[0][0] >= H + store.HOUR_MS


def test_observation_series_bounds_follow_later_observations(tmp_path: Path) -> None:
    """A histogram first observed at 00:59 and again at 01:00: the series must be found for
    the 01:00 hour too (its bounds grow with observations, as they do with samples)."""
    with metrics_db(tmp_path) as (w, r):
        sid = write(w, lambda c: store.ensure_series(c, OBS, H - M, H - M, store.KIND_OBSERVATIONS))
        write(w, lambda c: store.add_observations(c, [(sid, H - M, 0.1)]))
        assert store.matching_series(r, [Matcher("__name__", "=", "lat")], H + 1) == {}
        write(w, lambda c: store.add_observations(c, [(sid, H + M, 0.2), (sid, H + 2 * M, 0.3)]))
        assert store.matching_series(r, [Matcher("__name__", "=", "lat")], H + 1) == {sid: OBS}


@pytest.fixture(scope="module")
def minute_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """Minute rollups of series with full hours, partial hours, gaps and sparse minutes."""
    with metrics_db(tmp_path_factory.mktemp("minutes")) as (w, r):
        full = [H + i * 15_000 for i in range(3 * 240)]
        late_start = [t for t in range(H + 20 * M, H + 3 * store.HOUR_MS, 30_000)]
        gappy = [t for t in late_start if not H + 70 * M <= t < H + 85 * M]
        sparse = list(range(H + 3_000, H + 3 * store.HOUR_MS, 7 * M))
        data = [
            (Labels({"__name__": "m", "s": "full"}), full),
            (Labels({"__name__": "m", "s": "twin"}), full),
            (Labels({"__name__": "m", "s": "late"}), late_start),
            (Labels({"__name__": "m", "s": "gappy"}), gappy),
            (Labels({"__name__": "m", "s": "sparse"}), sparse),
        ]
        for labels, ts in data:
            vs = [float(i) for i in range(len(ts))]
            write(
                w,
                lambda c, labels=labels, ts=ts, vs=vs: store.append_samples(c, [(labels, ts, vs)]),
            )
        run_all(w, H + 4 * store.HOUR_MS)
        yield r


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(H - 2 * store.HOUR_MS, H + 4 * store.HOUR_MS),
    span=st.integers(0, 5 * store.HOUR_MS),
    pick=st.sets(st.integers(0, 4), min_size=1),
    at_last=st.booleans(),
)
def test_packed_minute_reads_match_the_minute_rows(
    minute_store: sqlite3.Connection, start: int, span: int, pick: set[int], at_last: bool
) -> None:
    """The packed read (bucket ends derived, full hours without decoding their times) returns
    exactly the minute rows whose bucket ends in [start, end]: time and last value."""
    r = minute_store
    ids = sorted(r.execute("SELECT id FROM series ORDER BY id").fetchall())
    chosen = [ids[i][0] for i in sorted(pick)]
    end = start + span
    got = store.rollup_points(r, chosen, M, start, end, at_last_sample=at_last)
    at = "last_ms" if at_last else f"bucket + {M - 1}"
    for sid in chosen:
        want = r.execute(
            f"SELECT {at}, last FROM rollups WHERE res = ? AND series_id = ?"
            " AND bucket BETWEEN ? AND ? ORDER BY bucket",
            (M, sid, start - M + 1, end - M + 1),
        ).fetchall()
        assert got.get(sid, ([], [])) == ([t for t, _ in want], [v for _, v in want])


@pytest.fixture(scope="module")
def layered_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """Six hours of series, dense and sparse, with raw data kept for the last two hours and
    minute rollups for the last four: every read mixes hour, minute and raw layers."""
    with metrics_db(tmp_path_factory.mktemp("layers")) as (w, r):
        hour = store.HOUR_MS
        patterns = {
            "dense": list(range(H, H + 6 * hour, 15_000)),
            "sparse": [H + 10 * M, H + 70 * M, H + 130 * M + 5_000, H + 200 * M, H + 330 * M],
            "late": list(range(H + 150 * M, H + 6 * hour, 60_000)),
            "gap": [t for t in range(H, H + 6 * hour, 30_000) if not H + hour <= t < H + 4 * hour],
        }
        for name, ts in patterns.items():
            labels = Labels({"__name__": "layer", "p": name})
            vs = [float(i) for i in range(len(ts))]
            write(
                w,
                lambda c, labels=labels, ts=ts, vs=vs: store.append_samples(c, [(labels, ts, vs)]),
            )
        while write(w, lambda c: store.compact_head(c, H + 8 * hour)):
            pass
        run_all(w, H + 6 * hour + M)
        write(w, lambda c: store.delete_raw_before(c, H + 4 * hour, 10**6))
        write(w, lambda c: store.delete_rollups_before(c, M, H + 2 * hour, 10**6))
        yield r


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(H - 30 * M, H + 6 * store.HOUR_MS),
    span=st.integers(0, 7 * store.HOUR_MS),
    resolution=st.sampled_from([0, 15_000, M, 5 * M, store.HOUR_MS]),
)
def test_bounded_hour_reads_change_no_answer(
    layered_store: sqlite3.Connection, start: int, span: int, resolution: int
) -> None:
    """Hour rollups are read only where a series' minute and raw points have not begun:
    the answers equal those of reading every hour row of the range and dropping the rest."""
    reader = store.StoreReader(layered_store)
    matchers = [Matcher("__name__", "=", "layer")]
    got = reader.select(matchers, start, start + span, resolution_ms=resolution)

    def every_hour_row(
        self: store.StoreReader,
        later: dict[int, tuple[list[int], list[float]]],
        start_ms: int,
        end_ms: int,
        *,
        at_last_sample: bool,
    ) -> dict[int, tuple[list[int], list[float]]]:
        # as before the bound: every hour row of the range, once it reaches back to within an
        # hour of the oldest minute rollups (later than that, minute rollups answer)
        if start_ms >= store.earliest_rollup_ms(self.conn, M) + store.HOUR_MS:
            return {}
        return store.rollup_points(
            self.conn, list(later), store.HOUR_MS, start_ms, end_ms, at_last_sample=at_last_sample
        )

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store.StoreReader, "_hours_before", every_hour_row)
        want = reader.select(matchers, start, start + span, resolution_ms=resolution)
    assert [(s.labels, list(s.timestamps), list(s.values)) for s in got] == [
        (s.labels, list(s.timestamps), list(s.values)) for s in want
    ]
