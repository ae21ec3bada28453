from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from compat_prom.sketch import ALPHA, Sketch, spec_rank


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[spec_rank(len(ordered), q)]


def test_merged_minute_sketches_within_one_percent_of_exact_hour() -> None:
    rng = random.Random(42)
    for dist in range(3):
        minutes = []
        for _ in range(60):
            n = rng.randint(0, 400)
            if dist == 0:
                vals = [rng.lognormvariate(-2, 1.2) for _ in range(n)]
            elif dist == 1:
                vals = [rng.expovariate(3) for _ in range(n)]
            else:
                vals = [rng.uniform(-5, 50) for _ in range(n)]
            minutes.append(vals)
        merged = Sketch()
        for vals in minutes:
            merged.merge(Sketch.from_bytes(Sketch.of(vals).to_bytes()))
        everything = [v for vals in minutes for v in vals]
        assert merged.count == len(everything)
        for q in (0.5, 0.95, 0.99):
            want = exact(everything, q)
            got = merged.quantile(q)
            assert got is not None
            assert abs(got - want) <= 0.01 * abs(want) + 1e-9, (dist, q, got, want)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1, max_size=200),
    st.sampled_from([0.0, 0.5, 0.95, 0.99, 1.0]),
)
def test_quantile_relative_error_bound(values: list[float], q: float) -> None:
    got = Sketch.of(values).quantile(q)
    want = exact(values, q)
    assert got is not None
    if abs(want) < 1e-9:
        assert abs(got) < 1e-8
    else:
        assert abs(got - want) <= ALPHA * abs(want) * 1.0001


def test_empty() -> None:
    assert Sketch().quantile(0.5) is None
    assert Sketch.from_bytes(Sketch().to_bytes()).count == 0
