"""``topk``/``bottomk`` over many steps against their definition, step by step."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from compat_prom.query import aggregate
from compat_prom.query.ast import Aggregate, parse
from compat_prom.query.values import Num, Series
from core.labels import Labels

VALUES = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 2.0, -3.5, math.inf, -math.inf, math.nan, None]),
    st.floats(-10, 10),
)


@st.composite
def vectors(draw: Any) -> tuple[Aggregate, list[Series], int, list[float]]:
    n = draw(st.integers(1, 6))
    m = draw(st.integers(0, 6))
    series = [
        Series(
            Labels({"__name__": "x", "g": draw(st.sampled_from("ab")), "i": str(i)}),
            draw(st.lists(VALUES, min_size=n, max_size=n)),
            False,
        )
        for i in range(m)
    ]
    query = draw(st.sampled_from(["topk(k, x)", "bottomk(k, x)", "topk by (g) (k, x)"]))
    node = parse(query.replace("k,", "1,"))
    assert isinstance(node, Aggregate)
    k = draw(st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.9, 5.0]), min_size=n, max_size=n))
    return node, series, n, k


def definition(node: Aggregate, series: list[Series], i: int, k: float) -> set[int]:
    """The members kept at step ``i``: per group, the ``int(k)`` largest (topk) or smallest
    present values, NaN ranked last, ties to the series seen first."""
    groups: dict[object, list[int]] = {}
    for idx, s in enumerate(series):
        key = tuple(s.labels.get(g) for g in node.grouping)
        groups.setdefault(key, []).append(idx)
    kept: set[int] = set()
    top = node.op == "topk"
    for members in groups.values():
        present = [idx for idx in members if series[idx].values[i] is not None]

        def rank(idx: int) -> tuple[int, float]:
            v = series[idx].values[i]
            assert v is not None
            if math.isnan(v):
                return (1, 0.0)
            return (0, -v if top else v)

        kept.update(sorted(present, key=rank)[: int(k)])
    return kept


@settings(max_examples=400, deadline=None)
@given(vectors())
def test_topk_and_bottomk_keep_what_the_definition_keeps(
    case: tuple[Aggregate, list[Series], int, list[float]],
) -> None:
    node, series, n, k = case
    got = aggregate._top_bottom(node, series, n, k)
    by_labels = {s.labels: s.values for s in got.series}
    for i in range(n):
        want = definition(node, series, i, k[i])
        for idx, s in enumerate(series):
            value: Num = by_labels.get(s.labels, [None] * n)[i]
            if idx in want:
                v = s.values[i]
                assert value is v or (value == v), (i, idx)
            else:
                assert value is None, (i, idx)
