"""Number and time formatting of the query API (what Grafana parses)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compat_prom.query.ast import parse
from compat_prom.query.jsonfmt import point_heads, points_text, ts_json, values_text
from compat_prom.query.values import STALE_NAN, format_value, is_stale


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-2.5, "-2.5"),
        (0.1, "0.1"),
        (1e-7, "0.0000001"),
        (1.5e21, "1500000000000000000000"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (-0.0, "-0"),
        (0.39999999999999997, "0.39999999999999997"),
    ],
)
def test_values_print_as_go_formatfloat(value: float, text: str) -> None:
    assert format_value(value) == text
    assert values_text([value]) == [text]
    assert points_text(point_heads([4000], {}), [value]) == f'[4,"{text}"]'


def test_times_are_float_seconds_with_at_most_millisecond_digits() -> None:
    assert ts_json(4000) == "4"
    assert ts_json(1_435_781_451_781) == "1435781451.781"
    assert ts_json(1_500) == "1.5"


def test_stale_marker_is_recognised_bit_exactly() -> None:
    assert is_stale(STALE_NAN)
    assert not is_stale(math.nan)


def test_at_sign_inside_a_string_is_not_a_negative_at_modifier() -> None:
    node = parse('foo{a="x@-y"}')
    assert [m.value for m in node.matchers] == ["foo", "x@-y"]  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats() | st.integers(-(10**6), 10**6).map(float), max_size=12))
def test_values_text_is_format_value_for_each(values: list[float]) -> None:
    """The batch formatter (one C pass when no value needs care) agrees item by item."""
    assert values_text(values) == [format_value(v) for v in values]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2**42),
            st.floats() | st.integers(-(10**6), 10**6).map(float) | st.sampled_from([0.5, 10.0]),
        ),
        max_size=12,
    )
)
def test_points_text_is_format_value_for_each(points: list[tuple[int, float]]) -> None:
    """The joined text, fixed up in one pass when no value needs care, is each point's
    ``[t,"format_value(v)"]``."""
    values = [v for _, v in points]
    want = ",".join(f'[{ts_json(t)},"{format_value(v)}"]' for t, v in points)
    heads = point_heads([t for t, _ in points], {}) if points else []
    assert points_text(heads, values) == want
