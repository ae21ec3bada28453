"""Engine properties on the real store: aggregation consistency, storage-layout independence,
raw vs rollups, limits (422 / 503) and the parser adapter's edges."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compat_prom import rollup, store
from compat_prom.query.api_calls import Params, QueryOptions, instant_query, range_query
from compat_prom.query.ast import parse
from compat_prom.query.engine import Limits, Result, run_instant, run_range
from core.errors import AppError, BadRequest, Unavailable, Unprocessable
from core.labels import Labels
from tests.compat_prom.helpers import metrics_db, write
from tests.compat_prom.query.conformance import Store

T0 = 1_700_000_000_000
Series = tuple[Labels, list[int], list[float]]


@contextmanager
def loaded(workdir: Path, batches: list[list[Series]]) -> Iterator[Store]:
    """A fresh database with the batches; one migrated template per test module."""
    workdir.mkdir(exist_ok=True)
    template = workdir.parent / "template.db"
    if template.exists():
        (workdir / "template.db").write_bytes(template.read_bytes())
    db = Store(workdir)
    if not template.exists():
        template.write_bytes(db.template.read_bytes())
    try:
        for batch in batches:
            assert db.w is not None
            write(db.w, lambda c, b=batch: store.append_samples(c, b))  # type: ignore[misc]
        yield db
    finally:
        db.close()


def _as_map(res: Result) -> dict[Labels, list[tuple[int, float]]]:
    if res.kind == "vector":
        return {lbl: [(t, v)] for lbl, t, v in res.vector}
    return {lbl: list(zip(ts, vs, strict=True)) for lbl, ts, vs in res.matrix}


def counters(seed: int, n_series: int, n_samples: int) -> list[Series]:
    rng = random.Random(seed)
    out: list[Series] = []
    for i in range(n_series):
        labels = Labels({"__name__": "req_total", "x": "ab"[i % 2], "i": str(i)})
        t, v = T0, 0.0
        ts, vs = [], []
        for _ in range(n_samples):
            t += rng.choice([10_000, 15_000, 15_000, 20_000])
            v = 0.0 if rng.random() < 0.05 else v + rng.randint(0, 20)  # occasional reset
            ts.append(t)
            vs.append(v)
        out.append((labels, ts, vs))
    return out


@pytest.fixture(scope="module")
def workroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000), n_series=st.integers(1, 5), step_s=st.sampled_from([15, 30, 60])
)
def test_sum_by_of_rate_equals_sum_of_per_series_rates(
    workroot: Path, seed: int, n_series: int, step_s: int
) -> None:
    data = counters(seed, n_series, 80)
    with loaded(workroot / f"p{seed}-{n_series}-{step_s}", [data]) as db:
        start, end = T0 + 300_000, T0 + 1_200_000
        step = step_s * 1000
        agg = run_range(db.reader(), parse("sum by (x) (rate(req_total[5m]))"), start, end, step)
        per = run_range(db.reader(), parse("rate(req_total[5m])"), start, end, step)
        want: dict[tuple[str, int], float] = {}
        for labels, stamps, values in per.matrix:
            for t, v in zip(stamps, values, strict=True):
                key = (labels["x"], t)
                want[key] = want.get(key, 0.0) + v
        got = {(lbl["x"], t): v for lbl, ts, vs in agg.matrix for t, v in zip(ts, vs, strict=True)}
        assert set(got) == set(want)
        for key, v in want.items():
            assert math.isclose(got[key], v, rel_tol=1e-9, abs_tol=1e-12)


QUERIES = [
    "rate(req_total[5m])",
    "sum by (x) (increase(req_total[10m]))",
    "max_over_time(req_total[3m])",
    "req_total offset 2m",
    "resets(req_total[15m])",
    "topk(2, req_total)",
    "avg_over_time(rate(req_total[2m])[10m:1m])",
]


def test_results_do_not_depend_on_the_storage_layout(workroot: Path) -> None:
    """One ordered batch vs shuffled small batches, then compacted into chunks: same answers."""
    data = counters(7, 4, 120)
    shuffled: list[list[Series]] = []
    rng = random.Random(1)
    for labels, ts, vs in data:
        idx = list(range(len(ts)))
        rng.shuffle(idx)
        for part in (idx[:40], idx[40:80], idx[80:]):
            shuffled.append([(labels, [ts[i] for i in part], [vs[i] for i in part])])
    rng.shuffle(shuffled)
    end = T0 + 1_500_000
    with loaded(workroot / "one", [data]) as a, loaded(workroot / "many", shuffled) as b:
        assert b.w is not None
        while write(b.w, lambda c: store.compact_head(c, T0 + 3_600_000)):
            pass  # one 30-minute block per call, as the compaction job runs it
        for q in QUERIES:
            want = _as_map(run_range(a.reader(), parse(q), T0 + 600_000, end, 30_000))
            assert _as_map(run_range(b.reader(), parse(q), T0 + 600_000, end, 30_000)) == want, q
            want = _as_map(run_instant(a.reader(), parse(q), end))
            assert _as_map(run_instant(b.reader(), parse(q), end)) == want, q


def test_raw_and_minute_rollups_agree_within_tolerance(tmp_path: Path) -> None:
    """Past raw retention the store answers from minute rollups (last value per minute).

    For counters ``rate``/``increase`` over windows of several minutes stay within 2 % of
    the raw answer (docs/prometheus-api.md: precision of long ranges).
    """
    rng = random.Random(3)
    labels = Labels({"__name__": "req_total", "job": "api"})
    ts = list(range(T0, T0 + 3 * 3_600_000, 15_000))
    vs, v = [], 0.0
    for _ in ts:
        v += rng.uniform(8, 12)
        vs.append(v)
    queries = ["rate(req_total[10m])", "increase(req_total[1h])"]
    start, end, step = T0 + 3_600_000, T0 + 2 * 3_600_000, 60_000
    with metrics_db(tmp_path) as (w, r):
        write(w, lambda c: store.append_samples(c, [(labels, ts, vs)]))
        raw = {
            q: _as_map(run_range(store.StoreReader(r), parse(q), start, end, step)) for q in queries
        }
        write(w, lambda c: rollup.rollup_minutes(c, T0, T0 + 3 * 3_600_000))
        write(w, lambda c: store.delete_raw_before(c, T0 + 2 * 3_600_000 + 600_000, 10**6))
        for q in queries:
            rolled = _as_map(run_range(store.StoreReader(r), parse(q), start, end, step))
            (want,) = raw[q].values()
            (got,) = rolled.values()
            assert [t for t, _ in got] == [t for t, _ in want]
            for (_, gv), (_, wv) in zip(got, want, strict=True):
                assert math.isclose(gv, wv, rel_tol=0.02), (q, gv, wv)


def test_coarse_steps_read_rollups_and_agree_with_raw(tmp_path: Path) -> None:
    """A step of a minute or more reads minute rollups (an hour or more: hour rollups) for the
    rolled-up part of the range and raw samples after the rollup watermark; ``rate`` and
    ``increase`` stay within 2 % of the all-raw answer (docs/prometheus-api.md: precision).
    """
    rng = random.Random(5)
    hour = store.HOUR_MS
    labels = Labels({"__name__": "req_total", "job": "api"})
    ts = list(range(T0, T0 + 10 * hour, 15_000))
    vs, v = [], 0.0
    for _ in ts:
        v += rng.uniform(8, 12)
        vs.append(v)
    cases = [  # query, step, resolution the engine passes for its selector
        ("rate(req_total[10m])", 60_000, 60_000),
        ("sum(increase(req_total[1h]))", 300_000, 300_000),
        ("increase(req_total[6h])", hour, hour),
    ]
    start, end = T0 + 7 * hour, ts[-1]  # every window inside the data
    with metrics_db(tmp_path) as (w, r):
        write(w, lambda c: store.append_samples(c, [(labels, ts, vs)]))
        reader = store.StoreReader(r)
        raw = {q: _as_map(run_range(reader, parse(q), start, end, st)) for q, st, _ in cases}
        while not write(w, lambda c: rollup.step(c, T0 + 9 * hour + 1_800_000)):
            pass
        done = int(store.get_meta(r, store.WATERMARK_KEY) or 0)
        assert T0 + 9 * hour < done < end
        write(w, lambda c: store.delete_raw_before(c, done, 10**6))
        for q, st, res in cases:
            (want,) = raw[q].values()
            (got,) = _as_map(run_range(reader, parse(q), start, end, st)).values()
            assert [t for t, _ in got] == [t for t, _ in want]
            for (_, gv), (_, wv) in zip(got, want, strict=True):
                assert math.isclose(gv, wv, rel_tol=0.02), (q, gv, wv)
            (sel,) = reader.select([], start - 6 * hour, end, resolution_ms=res)
            # one point per bucket (an hour when the step is an hour or more, else a minute):
            # the bucket's last sample, from the rollups before the watermark (raw samples
            # there are gone), computed from raw samples after it; the newest is never lost
            size = hour if res >= hour else 60_000
            want_ts = [t for t in ts if (t + 15_000) // size != t // size]
            want_ts = [t for t in want_ts if t >= start - 6 * hour] + [ts[-1]]
            assert list(sel.timestamps) == sorted(set(want_ts)), q
            assert sel.values[-1] == vs[-1]


def test_sample_limit_is_a_422_and_timeout_a_503(workroot: Path) -> None:
    with loaded(workroot / "limits", [counters(2, 3, 100)]) as db:
        node = parse("sum(rate(req_total[10m]))")
        with pytest.raises(Unprocessable, match="too many samples"):
            run_range(db.reader(), node, T0, T0 + 1_800_000, 15_000, Limits(max_samples=50))
        with pytest.raises(Unavailable, match="timed out"):
            run_range(db.reader(), node, T0, T0 + 1_800_000, 15_000, Limits(timeout_s=0.0))
        opts = QueryOptions(max_samples=50)
        p = Params([("query", "req_total[30m]"), ("time", str((T0 + 1_800_000) / 1000))])
        with pytest.raises(Unprocessable):
            instant_query(db.reader(), p, T0, opts)


def test_range_query_parameter_errors(workroot: Path) -> None:
    with loaded(workroot / "params", []) as db:
        base = [("query", "1"), ("start", "0"), ("end", "100")]
        for extra, needle in [
            ([], "step"),
            ([("step", "0")], "zero or negative"),
            ([("step", "abc")], "step"),
            ([("step", "0.001")], "11,000"),
        ]:
            with pytest.raises(BadRequest, match=needle):
                range_query(db.reader(), Params(base + extra), QueryOptions())
        out = range_query(db.reader(), Params([*base, ("step", "50s")]), QueryOptions())
        assert '"values":[[0,"1"],[50,"1"],[100,"1"]]' in out


@pytest.mark.parametrize(
    "text",
    [
        "sum(",
        "foo @ -5",
        'foo{a=~"("}',
        "rate(foo)",
        "1 +",
        "histogram_quantile(0.9)",
        "vector(1) offset Inf",  # a Rust panic inside promql-parser
    ],
)
def test_bad_queries_are_400(text: str) -> None:
    with pytest.raises(BadRequest):
        parse(text)


def test_native_histogram_functions_refuse_clearly(workroot: Path) -> None:
    with loaded(workroot / "nh", [counters(1, 1, 10)]) as db:
        for fn in ("histogram_count", "histogram_sum", "histogram_avg"):
            with pytest.raises(Unprocessable, match="native histograms"):
                run_instant(db.reader(), parse(f"{fn}(req_total)"), T0 + 60_000)


def test_huge_subquery_is_refused_before_allocating(workroot: Path) -> None:
    with loaded(workroot / "bomb", []) as db, pytest.raises(Unprocessable, match="too many"):
        run_instant(db.reader(), parse("max_over_time(vector(1)[30d:1ms])"), T0)


ATOMS = [
    "req_total",
    'req_total{x="a"}',
    "rate(req_total[5m])",
    "sum",
    "by",
    "(",
    ")",
    "[5m]",
    "[1m:10s]",
    "offset",
    "-5m",
    "@",
    "123",
    "1e308",
    "NaN",
    "Inf",
    "+",
    "-",
    "*",
    "/",
    "^",
    "%",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "==",
    ">",
    '"s"',
    "topk(",
    'count_values("v",',
    "label_replace(",
    "histogram_quantile(",
    "0.5",
    ",",
    "{",
    "}",
    "=~",
    '"(.*"',
    "__name__",
    "start()",
    "time()",
    "vector(1)",
    "absent(",
    "quantile_over_time(",
    "@ 0",
    "[0s]",
    "predict_linear(req_total[5m],",
    "round(req_total,",
    "sort_by_label(req_total,",
    "limitk(",
    "1/0",
    "offset 1e9s",
]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(st.sampled_from(ATOMS), min_size=1, max_size=8))
def test_garbage_queries_raise_only_our_errors(workroot: Path, parts: list[str]) -> None:
    """Parse and evaluate (instant and range) anything: a 4xx/5xx AppError or a result."""

    with loaded(workroot / "fuzz", [counters(5, 2, 60)]) as db:
        try:
            node = parse(" ".join(parts))
            run_instant(db.reader(), node, T0 + 600_000, Limits(timeout_s=5))
            run_range(db.reader(), node, T0, T0 + 900_000, 60_000, Limits(timeout_s=5))
        except AppError:
            pass


def test_fill_modifiers_one_to_one(workroot: Path) -> None:
    a = [(Labels({"__name__": "l", "k": k}), [T0], [v]) for k, v in (("a", 1.0), ("c", 3.0))]
    b = [(Labels({"__name__": "r", "k": k}), [T0], [v]) for k, v in (("a", 10.0), ("d", 40.0))]
    with loaded(workroot / "fill", [a + b]) as db:
        res = run_instant(db.reader(), parse("l + fill_left(5) fill_right(7) r"), T0)
        got = {lbl["k"]: v for lbl, _, v in res.vector}
        assert got == {"a": 11.0, "c": 10.0, "d": 45.0}
        with pytest.raises(Unprocessable, match="one-to-one"):
            run_instant(db.reader(), parse("l + on(k) group_left fill(0) r"), T0)
