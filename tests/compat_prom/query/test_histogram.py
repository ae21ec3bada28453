"""``histogram_quantile`` over many steps at once against ``bucket_quantile`` step by step."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from compat_prom.query import histogram
from compat_prom.query.values import Annotations, Num, Series
from core.labels import Labels

BOUNDS = ["-1", "0", "0.1", "0.5", "1", "1.0", "2.5", "+Inf"]
RISES = st.one_of(
    st.just(0.0),
    st.floats(0, 50),
    st.sampled_from([1e-14, 3e-13, -1e-13, -1.0, 1.0]),
)


@st.composite
def histograms(draw: Any) -> tuple[list[float], list[Series]]:
    """Half well-formed (cumulative, non-negative, ``+Inf`` last, one φ: the column path),
    half anything (falls, noise-level rises, negatives, missing and NaN buckets)."""
    n = draw(st.integers(1, 8))
    well_formed = draw(st.booleans())
    bounds = draw(st.lists(st.sampled_from(BOUNDS), min_size=1, max_size=6, unique=True))
    if well_formed or draw(st.booleans()):
        bounds = [b for b in bounds if b != "+Inf"] + ["+Inf"]
    rises = st.one_of(st.just(0.0), st.floats(0, 50)) if well_formed else RISES
    columns: list[list[Num]] = [[] for _ in bounds]
    for _ in range(n):
        running = draw(st.sampled_from([0.0, 10.0, 1e6]))
        for col in columns:
            running += draw(rises)
            choices = [running] * (30 if well_formed else 6) + [None, math.nan]
            col.append(draw(st.sampled_from(choices)))
    series = [
        Series(Labels({"__name__": "h_bucket", "le": b}), col, False)
        for b, col in zip(bounds, columns, strict=True)
    ]
    if well_formed or draw(st.booleans()):
        phis = [draw(st.sampled_from([0.0, 0.5, 0.95, 1.0]) | st.floats(0, 1))] * n
        if not well_formed:
            phis = [draw(st.sampled_from([0.0, 0.5, 0.95, 1.0, -0.1, 1.5, math.nan]))] * n
    else:
        phis = draw(st.lists(st.sampled_from([0.25, 0.9]), min_size=n, max_size=n))
    return phis, series


def step_by_step(phis: list[float], series: list[Series]) -> tuple[list[Num], bool]:
    out: list[Num] = []
    forced_any = False
    for i, phi in enumerate(phis):
        buckets = [(float(s.labels["le"]), v) for s in series if (v := s.values[i]) is not None]
        if not buckets:
            out.append(None)
            continue
        value, forced = histogram.bucket_quantile(phi, buckets)
        forced_any |= forced
        out.append(value)
    return out, forced_any


@settings(max_examples=500, deadline=None)
@given(histograms())
def test_quantile_over_steps_is_bucket_quantile_per_step(
    case: tuple[list[float], list[Series]],
) -> None:
    phis, series = case
    ev = SimpleNamespace(notes=Annotations())
    got = histogram.quantile(ev, phis, series)  # type: ignore[arg-type]
    want, forced = step_by_step(phis, series)
    if all(v is None for v in want):
        assert got.series == []
        return
    [result] = got.series
    assert len(result.values) == len(want)
    for a, b in zip(result.values, want, strict=True):
        assert a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))
    assert any("monotonicity" in m for m in ev.notes.infos) == forced


def test_quantile_zero_over_an_empty_first_bucket_is_nan() -> None:
    """Prometheus divides 0 by 0 there (Go: NaN); it used to raise ZeroDivisionError."""
    value, forced = histogram.bucket_quantile(0.0, [(0.1, 0.0), (math.inf, 1.0)])
    assert math.isnan(value) and not forced
    assert histogram.go_div(1.0, -0.0) == -math.inf and histogram.go_div(-2.0, 0.0) == -math.inf
