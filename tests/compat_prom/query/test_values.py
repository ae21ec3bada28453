"""The C-level helpers over a series' step values (None = no value at that step)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from compat_prom.query.values import Num, any_present, has_nan, leading_nones, none_free

STEP_VALUES = st.lists(st.none() | st.floats(), max_size=12)


@given(STEP_VALUES)
def test_none_free_and_any_present_are_their_definitions(values: list[Num]) -> None:
    assert none_free(values) == all(v is not None for v in values)
    assert any_present(values) == any(v is not None for v in values)
    k = leading_nones(values)
    assert all(v is None for v in values[:k]) and (k == len(values) or values[k] is not None)


@given(st.lists(st.floats(), max_size=12))
def test_has_nan_is_its_definition(values: list[float]) -> None:
    assert has_nan(values) == any(v != v for v in values)
