"""Remote-write 1.0/2.0: every real-Prometheus fixture, the acceptance contract, garbage."""

from __future__ import annotations

import json
import math
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest
import snappy
from hypothesis import given, settings
from hypothesis import strategies as st

from compat_prom import store
from compat_prom.protocol import remote_write
from compat_prom.protocol.proto import remote_write_v1_pb2 as pb1
from compat_prom.protocol.proto import remote_write_v2_pb2 as pb2
from compat_prom.query.reader import STALE_NAN_BITS
from compat_prom.service import create_app
from compat_prom.settings import MetricsSettings
from core.errors import AppError, BadRequest
from core.labels import Matcher
from tests.conftest import SHARED, TEST_KEY, in_process

FIXTURES = SHARED / "fixtures" / "prom-remote-write"
NAMES = sorted(p.name[: -len(".body")] for p in FIXTURES.glob("*.body"))
HEADERS = {"X-API-Key": TEST_KEY}
V2_TYPE = "application/x-protobuf;proto=io.prometheus.write.v2.Request"


def fixture(name: str) -> tuple[bytes, dict[str, str]]:
    meta = json.loads((FIXTURES / f"{name}.headers.json").read_text())
    headers = {k: v for k, v in meta["headers"] if k.lower() not in ("host", "content-length")}
    return (FIXTURES / f"{name}.body").read_bytes(), headers


def bits(v: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", v))[0])


def v1_body(
    series: list[tuple[dict[str, str] | list[tuple[str, str]], list[tuple[float, int]]]],
) -> bytes:
    req = pb1.WriteRequest()
    for labels, samples in series:
        ts = req.timeseries.add()
        pairs = labels.items() if isinstance(labels, dict) else labels
        for k, v in pairs:
            ts.labels.add(name=k, value=v)
        for value, t in samples:
            ts.samples.add(value=value, timestamp=t)
    return snappy.compress(req.SerializeToString())


@pytest.fixture
def client(make_settings: Callable[..., Any]) -> Any:
    with in_process(create_app(make_settings(MetricsSettings))) as c:
        yield c


def read_all(client: Any, matchers: list[Matcher], start: int, end: int) -> list[Any]:
    ctx = client.app.state.ctx
    with ctx.db.read() as conn:
        return store.StoreReader(conn).select(matchers, start, end)


@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_is_accepted_and_readable(client: Any, name: str) -> None:
    body, headers = fixture(name)
    decoded = remote_write.decode_v1(snappy.uncompress(body))
    headers["X-API-Key"] = TEST_KEY
    r = client.post("/api/v1/write", content=body, headers=headers)
    assert r.status_code == 204, r.text
    assert r.headers["X-Prometheus-Remote-Write-Samples-Written"] == str(decoded.sample_count)
    if not decoded.series:
        with client.app.state.ctx.db.read() as conn:
            meta = store.metadata(conn)
        assert len(meta) == len(decoded.metadata) > 100
        assert meta["prometheus_http_requests_total"][0]["type"] == "counter"
        return
    ts = decoded.series[0].timestamps[0]
    got = read_all(client, [Matcher("__name__", "=~", ".+")], ts - 1, ts + 1)
    by_labels = {s.labels: s for s in got}
    for rec in decoded.series:
        labels = store.clean_labels(store.Labels(rec.labels))
        s = by_labels[labels]
        assert list(s.timestamps) == rec.timestamps
        assert [bits(v) for v in s.values] == [bits(v) for v in rec.values]


def test_app_fixtures_values_and_stale_markers(client: Any) -> None:
    for name in ("rw1-app-scrape", "rw1-app-stale-markers"):
        body, headers = fixture(name)
        assert (
            client.post("/api/v1/write", content=body, headers={**headers, **HEADERS}).status_code
            == 204
        )
    got = read_all(client, [Matcher("__name__", "=~", "fixture_.*")], 0, 2**62)
    by = {(s.labels["__name__"], s.labels.get("room"), s.labels.get("path")): s for s in got}
    lab = by[("fixture_temperature_celsius", "lab", None)]
    assert lab.values[0] == -12.5 and bits(lab.values[1]) == STALE_NAN_BITS
    nan = by[("fixture_temperature_celsius", "nan", None)]
    assert math.isnan(nan.values[0]) and bits(nan.values[0]) != STALE_NAN_BITS
    assert by[("fixture_requests_total", None, '/quote"d\\back\nline')].values[0] == 3
    assert by[("fixture_requests_total", None, "/ünïcødé")].values[0] == 5
    assert by[("fixture_temperature_celsius", "tiny", None)].values[0] == 1.5e-300


def test_acceptance_contract(client: Any) -> None:
    now = int(time.time() * 1000)
    post = lambda body, **h: client.post("/api/v1/write", content=body, headers={**HEADERS, **h})  # noqa: E731
    a = {"__name__": "c", "case": "a"}
    assert post(v1_body([(a, [(1, now)])])).status_code == 204
    assert post(v1_body([(a, [(2, now - 30 * 60_000)])])).status_code == 204  # out of order
    assert (
        post(v1_body([({"__name__": "c", "case": "old"}, [(3, now - 24 * 3_600_000)])])).status_code
        == 204
    )
    assert post(v1_body([(a, [(9, now + 3_600_000)])])).status_code == 204  # far future
    assert (
        post(v1_body([({"__name__": "c", "case": "after"}, [(4, now - 5 * 60_000)])])).status_code
        == 204
    )
    assert (
        post(v1_body([(a, [(5, now - 60_000), (6, now - 120_000)])])).status_code == 204
    )  # descending
    r = post(
        v1_body(
            [
                ([("__name__", "c"), ("case", "x"), ("case", "y")], [(7, now)]),
                ({"__name__": "c", "case": "good"}, [(8, now)]),
            ]
        )
    )
    assert r.status_code == 400 and "duplicate label name" in r.text
    assert post(b"this is not snappy").status_code == 400
    assert post(snappy.compress(b"\xff\xff\xff garbage")).status_code == 400
    assert post(v1_body([])).status_code == 204  # empty WriteRequest
    assert post(v1_body([({"case": "noname"}, [(1, now)])])).status_code == 204
    r = client.post("/api/v1/write", content=v1_body([(a, [(1, now)])]))
    assert r.status_code == 401
    got = {s.labels["case"]: s for s in read_all(client, [Matcher("__name__", "=", "c")], 0, 2**62)}
    assert list(got["a"].values) == [2, 6, 5, 1, 9]
    assert got["old"].values[0] == 3 and got["after"].values[0] == 4
    assert got["good"].values[0] == 8 and "x" not in got and "y" not in got


def test_remote_write_v2_with_written_headers(client: Any) -> None:
    now = int(time.time() * 1000)
    req = pb2.Request(symbols=["", "__name__", "v2_metric", "job", "x", "help text"])
    ts = req.timeseries.add(labels_refs=[1, 2, 3, 4])
    ts.samples.add(value=1.5, timestamp=now)
    ts.samples.add(value=2.5, timestamp=now + 1000)
    ts.metadata.type = pb2.Metadata.METRIC_TYPE_GAUGE
    ts.metadata.help_ref = 5
    ts.histograms.add(count_int=3, sum=1.0, timestamp=now)
    bad = req.timeseries.add(labels_refs=[1, 99])
    bad.samples.add(value=1, timestamp=now)
    body = snappy.compress(req.SerializeToString())
    r = client.post(
        "/api/v1/write",
        content=body,
        headers={**HEADERS, "Content-Type": V2_TYPE, "Content-Encoding": "snappy"},
    )
    assert r.status_code == 400 and "out of range" in r.text
    assert r.headers["X-Prometheus-Remote-Write-Samples-Written"] == "2"
    assert r.headers["X-Prometheus-Remote-Write-Histograms-Written"] == "0"
    (got,) = read_all(client, [Matcher("__name__", "=", "v2_metric")], now, now + 1000)
    assert list(got.values) == [1.5, 2.5] and got.labels["job"] == "x"
    with client.app.state.ctx.db.read() as conn:
        assert store.metadata(conn, "v2_metric")["v2_metric"][0]["help"] == "help text"
    r = client.post(
        "/api/v1/write",
        content=body,
        headers={**HEADERS, "Content-Type": "application/x-protobuf;proto=foo.Bar"},
    )
    assert r.status_code == 415


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_decoder_garbage_raises_only_bad_request(data: bytes, v2: bool) -> None:
    try:
        batch = remote_write.decode_v2(data) if v2 else remote_write.decode_v1(data)
    except BadRequest:
        return
    for rec in batch.series:
        assert len(rec.timestamps) == len(rec.values)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5), max_size=3),
            st.lists(
                st.tuples(
                    st.floats(allow_nan=False),
                    # any int64, or the ms range the one-sample fast path reads (1971-2109)
                    st.integers(-(2**62), 2**62) | st.integers(2**35, 2**42 - 1),
                ),
                max_size=3,
            ),
        ),
        max_size=4,
    )
)
def test_v1_roundtrip(series: list[tuple[dict[str, str], list[tuple[float, int]]]]) -> None:
    try:
        batch = remote_write.decode_v1(snappy.uncompress(v1_body(series)))  # type: ignore[arg-type]
    except AppError:
        raise
    expected = [(tuple(d.items()), s) for d, s in series if s]
    # the fast path (known label bytes) gives the same samples for the same keys
    raw = snappy.uncompress(v1_body(series))  # type: ignore[arg-type]
    keys = [r.key for r in batch.series]
    again = remote_write.decode_v1(raw, {k: i for i, k in enumerate(keys) if isinstance(k, bytes)})
    known = [
        (keys[i], [t], [v])
        for i, t, v in zip(again.known_ids, again.known_ts, again.known_values, strict=True)
    ]
    assert sorted(map(repr, [(r.key, r.timestamps, r.values) for r in again.series] + known)) == (
        sorted(repr((r.key, r.timestamps, r.values)) for r in batch.series)
    )
    assert again.sample_count == batch.sample_count
    assert [
        (r.labels, list(zip(r.values, r.timestamps, strict=True))) for r in batch.series
    ] == expected


def test_known_series_rows_and_bounds() -> None:
    """The columnar path for known series gives the same rows and per-series bounds."""
    from compat_prom import ingest
    from core.labels import Labels

    cache = ingest.SeriesCache()
    a, b = (("__name__", "up"), ("job", "a")), (("__name__", "up"), ("job", "b"))
    sid_a, _ = cache.resolve(b"ka", a)
    sid_b, _ = cache.resolve(b"kb", b)
    hour = 1_764_000_000_000 // store.HOUR_MS * store.HOUR_MS
    for stamps in ([hour + 1, hour + 2, hour + 3], [hour - 5, hour + 7, hour + 1]):
        batch = remote_write.WriteBatch(
            known_ids=[sid_a, sid_b, sid_a],
            known_ts=stamps,
            known_value_bytes=bytearray(struct.pack("<3d", 1.0, 2.0, 3.0)),
        )
        series, rows = ingest._rows_of(cache, batch)
        assert rows == [(sid_a, stamps[0], bits(1.0)), (sid_b, stamps[1], bits(2.0)),
                        (sid_a, stamps[2], bits(3.0))]  # fmt: skip
        lo_a, hi_a = min(stamps[0], stamps[2]), max(stamps[0], stamps[2])
        assert series[sid_a] == (Labels(a), lo_a, hi_a)
        assert series[sid_b] == (Labels(b), stamps[1], stamps[1])


def test_steady_state_batches_store_like_the_first(client: Any) -> None:
    """A sender's later batches take the one-hour columnar path (known series, one sample
    each, zero values included); a batch spanning two hours takes the general one. Both
    store every sample and grow the series' bounds, so series queries find them."""
    h = (int(time.time() * 1000) // store.HOUR_MS - 4) * store.HOUR_MS
    hour = store.HOUR_MS
    names = [{"__name__": "steady_total", "i": str(i)} for i in range(20)]
    batches = [  # per batch: (timestamp for even i, timestamp for odd i)
        (h + 5_000, h + 5_000),  # new series: the general path, values all 0
        (h + 20_000, h + 20_000),  # known, one hour: columnar
        (h + hour + 14_000, h + hour + 14_000),  # known, the next hour: columnar, bounds grow
        (h + 2 * hour + 1_000, h + hour + 29_000),  # two hours in one batch: general
    ]
    expected: dict[int, dict[int, float]] = {i: {} for i in range(20)}
    for step, (even, odd) in enumerate(batches):
        series = []
        for i, labels in enumerate(names):
            ts = odd if i % 2 else even
            series.append((labels, [(float(step * i), ts)]))
            expected[i][ts] = float(step * i)
        r = client.post("/api/v1/write", content=v1_body(series), headers=HEADERS)
        assert r.status_code == 204, r.text
        if step == 2:  # the columnar path alone has grown every series' bounds by an hour
            assert bounds(client) == (h, h + 2 * hour - 1, h + 2 * hour - 1)
    got = read_all(client, [Matcher("__name__", "=", "steady_total")], 0, 2**62)
    assert len(got) == 20
    for s in got:
        want = expected[int(s.labels["i"])]
        assert dict(zip(s.timestamps, s.values, strict=True)) == want
    ids = [s.labels.fingerprint() for s in got]
    assert bounds(client) == (h, h + 2 * hour - 1, h + 3 * hour - 1)
    with client.app.state.ctx.db.read() as conn:
        assert len(store.series_with_data(conn, ids, h + hour, h + 2 * hour - 1)) == 20


def bounds(client: Any) -> tuple[int, int, int]:
    """(earliest first_ms, earliest last_ms, latest last_ms) of the steady_total series."""
    with client.app.state.ctx.db.read() as conn:
        row = conn.execute(
            "SELECT min(first_ms), min(last_ms), max(last_ms) FROM series"
            " WHERE name = 'steady_total'"
        ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def test_a_rolled_back_job_does_not_leave_the_writer_believing_in_its_series(
    client: Any,
) -> None:
    """A writer job that created a series and then failed is rolled back; the writer's
    cache of known series must forget it, or the next batch would store samples of a
    series that has no row (and no query would find them)."""
    from core.labels import Labels

    ctx = client.app.state.ctx
    now = int(time.time() * 1000)
    labels = Labels({"__name__": "rolled_back_total", "job": "x"})

    def created_then_failed(conn: Any) -> None:
        store.ensure_series(conn, labels, now, now)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        client.portal.call(ctx.writer.run, created_then_failed)
    body = v1_body([({"__name__": "rolled_back_total", "job": "x"}, [(7.0, now)])])
    assert client.post("/api/v1/write", content=body, headers=HEADERS).status_code == 204
    got = read_all(client, [Matcher("__name__", "=", "rolled_back_total")], now - 1, now + 1)
    assert [(s.labels, list(s.values)) for s in got] == [(labels, [7.0])]
