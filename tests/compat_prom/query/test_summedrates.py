"""``sum(rate(...))`` through the summed-counters shortcut agrees with the per-series sum.

The shortcut (compat_prom/query/summedrates.py) only runs for counters that share their
timestamps; these tests make such data on purpose (young counters starting near zero, whose
windows Prometheus cuts at the zero point; resets and NaN, which must take the per-series
path), check that the shortcut really ran, and compare with the rates added up one by one.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compat_prom.query import summedrates
from compat_prom.query.ast import parse
from compat_prom.query.engine import run_instant, run_range
from core.labels import Labels
from tests.compat_prom.query.test_engine import T0, Series, loaded


@pytest.fixture(scope="module")
def workroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("summedrates")


def shared_counters(seed: int, n_series: int, n_samples: int, *, oddities: bool) -> list[Series]:
    """Counters scraped at the same instants; some young (from ~0), with very different
    rates; with ``oddities`` one has a reset, one a NaN and one its own timestamps."""
    rng = random.Random(seed)
    stamps, t = [], T0
    for _ in range(n_samples):
        t += rng.choice([15_000, 15_000, 14_000, 16_000])
        stamps.append(t)
    out: list[Series] = []
    for i in range(n_series):
        labels = Labels({"__name__": "req_total", "x": "ab"[i % 2], "i": str(i)})
        v = rng.choice([0.0, 0.0, rng.uniform(0, 5), rng.uniform(1e3, 1e6)])
        speed = rng.choice([0.01, 0.5, 3.0, 40.0])
        vs = []
        for _ in stamps:
            v += rng.uniform(0, 2 * speed)
            vs.append(v)
        ts = list(stamps)
        if oddities and i == 1:
            vs[len(vs) // 2] = 0.0  # a reset
        if oddities and i == 2:
            vs[len(vs) // 3] = math.nan
        if oddities and i == 3:
            ts = [s + 1_000 for s in ts]
        out.append((labels, ts, vs))
    return out


def per_series_sum(db: object, query: str, start: int, end: int, step: int) -> dict[object, float]:
    inner = query[query.index("(", query.index(")") + 1) + 1 : -1]  # "rate(req_total[5m])"
    per = run_range(db.reader(), parse(inner), start, end, step)  # type: ignore[attr-defined]
    want: dict[object, float] = {}
    for labels, stamps, values in per.matrix:
        for t, v in zip(stamps, values, strict=True):
            key = (labels["x"], t)
            want[key] = want.get(key, 0.0) + v
    return want


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    n_series=st.integers(2, 7),
    step_s=st.sampled_from([15, 30, 60]),
    func=st.sampled_from(["rate", "increase"]),
    oddities=st.booleans(),
)
def test_summed_rates_equal_the_sum_of_per_series_rates(
    workroot: Path, seed: int, n_series: int, step_s: int, func: str, oddities: bool
) -> None:
    data = shared_counters(seed, n_series, 90, oddities=oddities)
    name = f"h{seed}-{n_series}-{step_s}-{func}-{oddities}"
    with loaded(workroot / name, [data]) as db:
        start, end, step = T0 + 60_000, T0 + 1_300_000, step_s * 1000
        query = f"sum by (x) ({func}(req_total[5m]))"
        got_res = run_range(db.reader(), parse(query), start, end, step)
        got = {
            (lbl["x"], t): v for lbl, ts, vs in got_res.matrix for t, v in zip(ts, vs, strict=True)
        }
        want = per_series_sum(db, query, start, end, step)
        assert set(got) == set(want)
        for key, v in want.items():
            both_nan = math.isnan(got[key]) and math.isnan(v)
            assert both_nan or math.isclose(got[key], v, rel_tol=1e-9, abs_tol=1e-9), key


def test_the_shortcut_runs_and_corrects_young_counters(
    workroot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two counters from zero with a 100x different speed: the slow one's windows are cut
    at its zero point for a while, and the shortcut must find and correct exactly those."""
    stamps = [T0 + 15_000 * (i + 1) for i in range(80)]
    fast = Labels({"__name__": "req_total", "x": "a", "i": "fast"})
    slow = Labels({"__name__": "req_total", "x": "a", "i": "slow"})
    data: list[Series] = [
        (fast, stamps, [10.0 * i for i in range(80)]),
        (slow, stamps, [0.1 * i + 0.05 for i in range(80)]),
    ]
    calls: list[int] = []
    corrected: list[int] = []
    group_steps, correct_young = summedrates._group_steps, summedrates._correct_young

    def spy_group(members, geo):  # type: ignore[no-untyped-def]
        calls.append(len(members))
        return group_steps(members, geo)

    def spy_young(values, vs, geo, lo, hi):  # type: ignore[no-untyped-def]
        corrected.append(hi - lo)
        return correct_young(values, vs, geo, lo, hi)

    monkeypatch.setattr(summedrates, "_group_steps", spy_group)
    monkeypatch.setattr(summedrates, "_correct_young", spy_young)
    with loaded(workroot / "young", [data]) as db:
        start, end, step = T0 + 30_000, T0 + 1_200_000, 15_000
        query = "sum by (x) (rate(req_total[5m]))"
        res = run_range(db.reader(), parse(query), start, end, step)
        assert calls == [2]
        assert corrected and corrected[0] > 0
        want = per_series_sum(db, query, start, end, step)
        got = {(lbl["x"], t): v for lbl, ts, vs in res.matrix for t, v in zip(ts, vs, strict=True)}
        assert set(got) == set(want) and len(got) > 60
        for key, v in want.items():
            assert math.isclose(got[key], v, rel_tol=1e-12), key
        # and an instant query (one step) on the same data
        t = T0 + 600_000
        one = run_instant(db.reader(), parse(query), t)
        assert math.isclose(one.vector[0][2], want[("a", t)], rel_tol=1e-12)


def test_large_counters_keep_their_precision(workroot: Path) -> None:
    """Counters near 2**50 growing by ~1 per scrape: summing the raw values would lose
    the increase in rounding; the shortcut sums them relative to their first value."""
    stamps = [T0 + 15_000 * (i + 1) for i in range(60)]
    base = float(2**50)
    data: list[Series] = []
    for k in range(5):
        values = [base + k + i * 1.25 for i in range(60)]
        data.append((Labels({"__name__": "bytes_total", "i": str(k)}), stamps, values))
    with loaded(workroot / "big", [data]) as db:
        res = run_range(
            db.reader(), parse("sum(rate(bytes_total[5m]))"), T0 + 400_000, T0 + 900_000, 15_000
        )
        for v in res.matrix[0][2]:
            assert math.isclose(v, 5 * 1.25 / 15, rel_tol=1e-9)
