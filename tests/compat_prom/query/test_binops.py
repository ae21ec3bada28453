"""Vector-vector arithmetic as whole columns against the step-by-step matching."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compat_prom.query import binops
from compat_prom.query.ast import Binary, parse
from compat_prom.query.engine import Evaluator, Limits
from compat_prom.query.values import Num, Series
from core.errors import AppError
from core.labels import Labels

VALUES = st.one_of(
    st.none(), st.floats(-5, 5), st.sampled_from([0.0, -0.0, 2.0, math.inf, math.nan])
)
OPERATORS = ["+", "-", "*", "/", "%", "^", "atan2"]
MATCHING = [
    "",
    " on (g)",
    " ignoring (i)",
    " on (g) group_left",
    " on (g) group_right",
    " on (g) group_left (i)",
    " ignoring (i) group_right (i)",
]


@st.composite
def operands(draw: Any) -> tuple[Binary, list[Series], list[Series], int]:
    n = draw(st.integers(1, 5))

    def side(name: str) -> list[Series]:
        # label sets unique within a side, but often equal once the name is dropped
        label_sets = draw(
            st.lists(
                st.tuples(
                    st.sampled_from([name, name + "_b"]),
                    st.sampled_from("ab"),
                    st.sampled_from("01"),
                ),
                max_size=4,
                unique=True,
            )
        )
        return [
            Series(
                Labels({"__name__": metric, "g": g, "i": i}),
                draw(st.lists(VALUES, min_size=n, max_size=n)),
                False,
            )
            for metric, g, i in label_sets
        ]

    query = f"x {draw(st.sampled_from(OPERATORS))}{draw(st.sampled_from(MATCHING))} y"
    node = parse(query)
    assert isinstance(node, Binary)
    return node, side("x"), side("y"), n


def outcome(node: Binary, lhs: list[Series], rhs: list[Series], n: int) -> object:
    ev = Evaluator(None, 0, 0, 1, Limits())  # type: ignore[arg-type]
    try:
        result = binops._vector_vector(ev, node, lhs, rhs, n)
    except AppError as exc:
        return ("error", type(exc))
    return {s.labels: [_key(v) for v in s.values] for s in result.series}


def _key(v: Num) -> object:
    return "NaN" if v is not None and math.isnan(v) else v


@settings(max_examples=500, deadline=None)
@given(operands())
def test_column_arithmetic_equals_step_by_step_matching(
    case: tuple[Binary, list[Series], list[Series], int],
) -> None:
    node, lhs, rhs, n = case
    got = outcome(node, lhs, rhs, n)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(binops, "_static_matches", lambda *args: None)
        want = outcome(node, lhs, rhs, n)
    assert got == want
