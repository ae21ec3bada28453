"""Pure modules: chunk codec round trip, match[] selectors, exposition escaping."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compat_prom import chunkcodec
from compat_prom.protocol import exposition
from compat_prom.protocol.selector import parse_selector
from core.errors import BadRequest
from core.labels import Labels, Matcher


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(2**62), 2**62), unique=True, max_size=300),
    st.data(),
)
def test_chunk_roundtrip(stamps: list[int], data: st.DataObject) -> None:
    stamps.sort()
    bits = data.draw(
        st.lists(st.integers(0, 2**64 - 1), min_size=len(stamps), max_size=len(stamps))
    )
    assert chunkcodec.decode(chunkcodec.encode(stamps, bits)) == (stamps, bits)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-(10**6), 10**6),
    st.integers(0, 5000) | st.just(15_000),
    st.integers(0, 130),
    st.booleans(),
    st.integers(-(10**6), 3 * 10**6),
    st.integers(0, 2 * 10**6),
    st.randoms(),
)
def test_chunk_has_sample_in_matches_decode(
    first: int, delta: int, n: int, jitter: bool, lo: int, width: int, rng: object
) -> None:
    """The header-only range check agrees with decoding, regular chunks or not."""
    stamps = [first + i * delta for i in range(n)]
    if jitter:
        stamps = sorted({t + rng.randint(0, 999) for t in stamps})  # type: ignore[attr-defined]
    blob = chunkcodec.encode(stamps, [0] * len(stamps))
    hi = lo + width
    assert chunkcodec.has_sample_in(blob, lo, hi) == any(lo <= t <= hi for t in stamps)


def test_chunk_regular_series_is_small() -> None:
    stamps = [1_764_000_000_000 + i * 15_000 for i in range(120)]
    values = chunkcodec.floats_to_bits([float(i // 3) for i in range(120)])
    blob = chunkcodec.encode(stamps, values)
    assert len(blob) < 120 * 1.5
    assert chunkcodec.decode(blob) == (stamps, values)


def test_selectors() -> None:
    assert parse_selector("up") == [Matcher("__name__", "=", "up")]
    assert parse_selector("{job=\"a\", x!~'b.*',y=~`c\\d`}") == [
        Matcher("job", "=", "a"),
        Matcher("x", "!~", "b.*"),
        Matcher("y", "=~", "c\\d"),
    ]
    assert parse_selector('m{a="q\\"\\n"}')[1].value == 'q"\n'
    for bad in ("", "{", '{a=""}', "up{a}", 'up{a="b"} x', "{a='b'", "rate(x[5m])", '{a="\\q"}'):
        with pytest.raises(BadRequest):
            parse_selector(bad)


def test_exposition_escaping_and_skips() -> None:
    stale = struct.unpack("<d", struct.pack("<Q", exposition.STALE_NAN_BITS))[0]
    samples = [
        (Labels({"__name__": "a", "p": 'x"y\\z\nw'}), 1000, 1.5),
        (Labels({"__name__": "a", "p": "nan"}), 1000, math.nan),
        (Labels({"__name__": "b"}), 2000, math.inf),
        (Labels({"__name__": "gone"}), 2000, stale),
        (Labels({"__name__": "bad-name"}), 2000, 1.0),
        (Labels({"__name__": "c", "bad.label": "v"}), 2000, 1.0),
    ]
    text = exposition.render(samples, {"a": "help\nme"}, openmetrics=False)
    assert text.splitlines() == [
        "# HELP a help\\nme",
        "# TYPE a untyped",
        'a{p="x\\"y\\\\z\\nw"} 1.5 1000',
        'a{p="nan"} NaN 1000',
        "# HELP b Latest value of b stored by flowmon.",
        "# TYPE b untyped",
        "b +Inf 2000",
    ]
    om = exposition.render(samples[2:3], {}, openmetrics=True)
    assert "# TYPE b unknown" in om and "b +Inf 2.000" in om
    assert exposition.wants_openmetrics("application/openmetrics-text;version=1.0.0")
    assert not exposition.wants_openmetrics("text/plain")
