"""The vectorized window terms of counter rates against the per-step formula."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from compat_prom.query import rangefns
from compat_prom.query.engine import step_windows


def reference_geometry(
    ts: list[int], windows: list[tuple[int, int]], times: list[int], rng: int, rate: bool
) -> rangefns.Geometry:
    """One step at a time, as ``extrapolated`` reads: the terms in milliseconds."""
    scale = 1000 / rng if rate else 1.0
    g = rangefns.Geometry(len(windows), [], [], [], [], [], [], [], [], scale, rng)
    for k, ((lo, hi), t) in enumerate(zip(windows, times, strict=True)):
        last = hi - 1
        if last <= lo:
            continue
        sampled = ts[last] - ts[lo]
        half = sampled / (last - lo) / 2
        to_start: float = ts[lo] - t + rng
        if to_start >= half * 2.2:
            to_start = half
        to_end: float = t - ts[last]
        if to_end >= half * 2.2:
            to_end = half
        g.valid.append(k)
        g.los.append(lo)
        g.lasts.append(last)
        g.times.append(t)
        g.sampled.append(sampled)
        g.factor.append((sampled + to_start + to_end) / sampled * scale)
        g.to_start.append(to_start)
        g.to_end.append(to_end)
        g.q.append(to_start / sampled * 1.000001)
    g.q_max = max(g.q, default=0.0)
    return g


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(st.integers(1, 120_000), min_size=1, max_size=80),
    start=st.integers(-600_000, 600_000),
    n_steps=st.integers(1, 120),
    step=st.integers(1, 90_000),
    rng=st.integers(1, 900_000),
    rate=st.booleans(),
)
def test_window_geometry_is_the_per_step_formula(
    gaps: list[int], start: int, n_steps: int, step: int, rng: int, rate: bool
) -> None:
    ts, t = [], 0
    for gap in gaps:
        t += gap
        ts.append(t)
    times = [start + k * step for k in range(n_steps)]
    windows = step_windows(ts, times, rng)
    got = rangefns.window_geometry(ts, windows, times, rng, rate=rate)
    assert got == reference_geometry(ts, windows, times, rng, rate)
