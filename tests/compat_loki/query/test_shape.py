"""Loki's wire shapes: value formatting, time numbers, field order, categorize-labels."""

from __future__ import annotations

import json
import math

import pytest

from compat_loki.query.results import (
    LogLine,
    MatrixResult,
    ScalarResult,
    StreamsResult,
    VectorResult,
    format_value,
)
from compat_loki.query.shape import result_data, seconds, success
from core.labels import Labels


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2"),
        (0.5, "0.5"),
        (1e21, "1000000000000000000000"),
        (1e-7, "0.0000001"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (-3.25, "-3.25"),
    ],
)
def test_values_print_like_go(value: float, text: str) -> None:
    assert format_value(value) == text


def test_times_are_seconds_with_milliseconds() -> None:
    assert seconds(4_000_000_000 * 10**9) == 4_000_000_000
    assert seconds(1_795_622_399_999_123_456) == 1795622399.999
    assert json.dumps(seconds(1_795_622_399_999_000_000)) == "1795622399.999"


def test_streams_field_order_and_categorize() -> None:
    line = LogLine(5, "hello", {"trace": "t"}, {"status": "500"})
    result = StreamsResult([(Labels.of(app="x"), [line])])
    plain = success(result_data(result))
    assert list(plain) == ["status", "data"]
    assert list(plain["data"]) == ["resultType", "result", "stats"]
    assert plain["data"]["result"] == [{"stream": {"app": "x"}, "values": [["5", "hello"]]}]
    cat = result_data(result, categorize=True)
    assert list(cat) == ["resultType", "encodingFlags", "result", "stats"]
    assert cat["result"][0]["values"] == [
        ["5", "hello", {"structuredMetadata": {"trace": "t"}, "parsed": {"status": "500"}}]
    ]


def test_metric_shapes() -> None:
    m = result_data(MatrixResult([(Labels.of(a="b"), [(10**9, 1.5)])]))
    assert m["result"] == [{"metric": {"a": "b"}, "values": [[1, "1.5"]]}]
    v = result_data(VectorResult([(Labels(), 2 * 10**9, 2.0)]))
    assert v["result"] == [{"metric": {}, "value": [2, "2"]}]
    s = result_data(ScalarResult(3 * 10**9, 7.0))
    assert (s["resultType"], s["result"]) == ("scalar", [3, "7"])
    assert "encodingFlags" not in result_data(MatrixResult([]), categorize=True)
