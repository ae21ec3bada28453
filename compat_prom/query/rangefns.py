"""Functions over range vectors (``rate``, ``*_over_time``, ...), one window at a time.

Each function gets a series' samples ``ts``/``vs``, the window ``[lo, hi)`` of one step,
the step's evaluation time ``t`` and the range (ms), and returns the value or ``None``.
``rate``/``increase``/``delta`` use Prometheus' extrapolation (``extrapolatedRate``): extend
to the window edges by at most half a sample interval, and never below zero for counters.
Counter resets are summed through a per-series prefix array so a window costs O(1) no
matter how many samples it holds (24 h dashboards walk thousands of windows per series).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate, compress, islice, repeat
from operator import add, ge, itemgetter, le, lt, mul, ne, or_, sub, truediv
from typing import Any

from compat_prom.query.aggregate import float_max, float_min, quantile, stdvar
from compat_prom.query.values import Num, ascending, has_nan, kahan_sum, mean

RangeFn = Callable[[Sequence[int], Sequence[float], int, int, int, int], Num]


def reset_prefix(vs: Sequence[float]) -> list[float]:
    """``out[i]`` = total drop compensation for counter resets among samples ``0..i``."""
    out = [0.0] * len(vs)
    acc = 0.0
    for i in range(1, len(vs)):
        if vs[i] < vs[i - 1]:
            acc += vs[i - 1]
        out[i] = acc
    return out


def extrapolated(
    ts: Sequence[int],
    vs: Sequence[float],
    lo: int,
    hi: int,
    t: int,
    rng: int,
    *,
    counter: bool,
    rate: bool,
    resets: Sequence[float] | None = None,
) -> Num:
    if hi - lo < 2:
        return None
    first, last = vs[lo], vs[hi - 1]
    result = last - first
    if counter:
        if resets is not None:
            result += resets[hi - 1] - resets[lo]
        else:
            for i in range(lo + 1, hi):
                if vs[i] < vs[i - 1]:
                    result += vs[i - 1]
    range_start = t - rng
    to_start = (ts[lo] - range_start) / 1000
    to_end = (t - ts[hi - 1]) / 1000
    sampled = (ts[hi - 1] - ts[lo]) / 1000
    avg_gap = sampled / (hi - lo - 1)
    threshold = avg_gap * 1.1
    if to_start >= threshold:
        to_start = avg_gap / 2
    if counter and result > 0 and first >= 0:
        to_zero = sampled * (first / result)
        if to_zero < to_start:
            to_start = to_zero
    interval = sampled + to_start
    interval += to_end if to_end < threshold else avg_gap / 2
    factor = interval / sampled
    if rate:
        factor /= rng / 1000
    return result * factor


def extrapolated_steps(
    ts: Sequence[int],
    vs: Sequence[float],
    windows: Sequence[tuple[int, int]],
    times: Sequence[int],
    rng: int,
    *,
    counter: bool,
    rate: bool,
    resets: Sequence[float] | None,
    geometry: Geometry | None = None,
) -> list[Num]:
    """``extrapolated`` for every step of one series (the hot loop of rate panels).

    For counters over several steps the work is split: ``window_geometry`` (the terms that
    depend only on the sample times, shared by every series scraped at the same instants:
    pass it as ``geometry``) and ``counter_steps`` (the values, in C-level ``map`` loops).
    """
    if not counter or resets is None:
        return [
            extrapolated(ts, vs, lo, hi, t, rng, counter=counter, rate=rate, resets=resets)
            if hi - lo >= 2
            else None
            for (lo, hi), t in zip(windows, times, strict=True)
        ]
    geo = geometry or window_geometry(ts, windows, times, rng, rate=rate)
    return counter_steps(vs, geo)


@dataclass
class Geometry:
    """Per step with two samples or more: the extrapolation terms of ``extrapolated`` that
    depend only on the sample times (milliseconds; the ratios cancel the unit)."""

    n: int  # steps
    valid: list[int]  # the steps with >= 2 samples
    los: list[int]
    lasts: list[int]
    times: list[int]
    sampled: list[int]
    factor: list[float]  # (sampled + to_start + to_end) / sampled, per second for rates
    to_start: list[float]  # before the counter's to-zero limit
    to_end: list[float]
    scale: float
    rng: int
    q: list[float] = field(default_factory=list)  # to_start / sampled, with a 1e-6 margin
    q_max: float = 0.0  # the largest of q

    @cached_property
    def blocks(self) -> StepBlocks:
        """The steps in runs of ``StepBlocks.SIZE``, for bounds over a whole run."""
        return StepBlocks.of(self)

    @cached_property
    def distinct(self) -> DistinctWindows:
        """The windows with their repeats (steps finer than the samples) taken out."""
        return DistinctWindows.of(self)


def _taker(indices: list[int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """``seq -> [seq[i] for i in indices]`` in one C call (``itemgetter`` of them all)."""
    if len(indices) >= 2:
        return itemgetter(*indices)
    return lambda seq: [seq[i] for i in indices]


@dataclass
class DistinctWindows:
    """Consecutive steps whose windows hold the same samples, taken once.

    Why: a 15 s panel over minute rollups has four steps to each window, so a value that
    depends only on the window's first and last sample (a group's increase) is computed
    per distinct window and spread back to the steps by one ``itemgetter`` call.
    """

    take_los: Callable[[Sequence[Any]], Sequence[Any]]  # seq -> seq at each first sample
    take_lasts: Callable[[Sequence[Any]], Sequence[Any]]  # ... at each last sample
    spread: Callable[[Sequence[Any]], Sequence[Any]]  # per distinct window -> per step

    @classmethod
    def of(cls, g: Geometry) -> DistinctWindows:
        los, lasts = g.los, g.lasts
        new = [True, *map(or_, map(ne, los[1:], los[:-1]), map(ne, lasts[1:], lasts[:-1]))]
        which = list(map(sub, accumulate(new), repeat(1)))  # each step's distinct window
        return cls(
            _taker(list(compress(los, new))),
            _taker(list(compress(lasts, new))),
            _taker(which),
        )


@dataclass
class StepBlocks:
    """Runs of consecutive (valid) steps, with what bounds every window in a run: its first
    sample index (the smallest of the run's window starts), its last sample index (the
    largest of the run's window ends) and the largest ``q``. A counter's increase in any
    window of a run is at most its increase from ``first`` to ``last``."""

    SIZE = 64

    starts: list[int]  # step index where each run starts (the last run may be shorter)
    first: list[int]
    last: list[int]
    q_max: list[float]

    @classmethod
    def of(cls, g: Geometry) -> StepBlocks:
        starts = list(range(0, len(g.los), cls.SIZE))
        ends = [*starts[1:], len(g.los)]
        return cls(
            starts,
            [g.los[k] for k in starts],
            [g.lasts[k - 1] for k in ends],
            [max(g.q[a:b]) for a, b in zip(starts, ends, strict=True)],
        )


def window_geometry(
    ts: Sequence[int],
    windows: Sequence[tuple[int, int]],
    times: Sequence[int],
    rng: int,
    *,
    rate: bool,
) -> Geometry:
    """The per-window terms of ``extrapolated``, for every step with two samples or more.

    Each term is one C-level ``map`` over the steps, in milliseconds (the ratios cancel the
    unit), with the operations of the per-step formula in the same order, so the floats are
    the same (tests/compat_prom/query/test_rangefns.py keeps that formula); the rare windows
    whose start or end gap is too wide to extrapolate over (``>= 1.1`` sample intervals,
    mostly at the edges of the data) are then set to half an interval one by one.
    """
    n = len(windows)
    los_all, his_all = (list(x) for x in zip(*windows, strict=True)) if n else ([], [])
    two_samples = list(map(lt, map(add, los_all, repeat(1)), his_all))  # hi - 1 > lo
    if all(two_samples):
        valid, los, his, at = list(range(n)), los_all, his_all, list(times)
    else:
        valid = list(compress(range(n), two_samples))
        los = list(compress(los_all, two_samples))
        his = list(compress(his_all, two_samples))
        at = list(compress(times, two_samples))
    lasts = list(map(sub, his, repeat(1)))
    t_first = list(map(ts.__getitem__, los))
    t_last = list(map(ts.__getitem__, lasts))
    sampled = list(map(sub, t_last, t_first))
    half = list(map(truediv, map(truediv, sampled, map(sub, lasts, los)), repeat(2)))
    threshold = list(map(mul, half, repeat(2.2)))
    to_start: list[float] = list(map(add, map(sub, t_first, at), repeat(rng)))
    to_end: list[float] = list(map(sub, at, t_last))
    for gap in (to_start, to_end):
        for i in compress(range(len(gap)), map(ge, gap, threshold)):
            gap[i] = half[i]
    scale = 1000 / rng if rate else 1.0
    factor = list(
        map(
            mul, map(truediv, map(add, map(add, sampled, to_start), to_end), sampled), repeat(scale)
        )
    )
    q = list(map(mul, map(truediv, to_start, sampled), repeat(1.000001)))
    return Geometry(
        n,
        valid,
        los,
        lasts,
        at,
        sampled,
        factor,
        to_start,
        to_end,
        scale,
        rng,
        q,
        max(q, default=0.0),
    )


def counter_steps(vs: Sequence[float], g: Geometry) -> list[Num]:
    """Counter ``rate``/``increase`` of every step on precomputed ``g``: the increase times
    each window's extrapolation factor, as Prometheus computes it (``factor`` first, then
    the product), in C-level ``map`` loops. The windows whose start would be cut by the
    counter's zero point (``to_zero < to_start``: only new counters, whose first value is
    small against the increase) are ruled out by one bound on the whole series, or else
    flagged in C and redone one by one."""
    nan = has_nan(vs)
    resets = any(map(lt, islice(vs, 1, None), vs)) if nan else not ascending(vs)
    if resets:
        corrected: Sequence[float] = list(map(add, vs, reset_prefix(vs)))
    else:
        corrected = vs
    get = corrected.__getitem__
    result = list(map(sub, map(get, g.lasts), map(get, g.los)))
    values: list[Num] = list(map(mul, result, g.factor))
    if result and (nan or not min(vs) > g.q_max * max(result)):
        # to_zero < to_start  <=>  first < (to_start / sampled) * result, for result > 0:
        # flagged in C with a margin, each flagged window recomputed exactly
        firsts = list(map(vs.__getitem__, g.los))
        near = map(le, firsts, map(mul, g.q, result))
        for i in compress(range(len(result)), near):
            r, first = result[i], firsts[i]
            if r > 0 and first >= 0:
                sampled = g.sampled[i]
                to_zero = sampled * first / r
                if to_zero < g.to_start[i]:
                    values[i] = r * ((sampled + to_zero + g.to_end[i]) / sampled * g.scale)
    if len(g.valid) == g.n:
        return values
    out: list[Num] = [None] * g.n
    for k, v in zip(g.valid, values, strict=True):
        out[k] = v
    return out


def irate_like(ts: Sequence[int], vs: Sequence[float], lo: int, hi: int, *, rate: bool) -> Num:
    if hi - lo < 2:
        return None
    a, b = vs[hi - 2], vs[hi - 1]
    diff = b - a
    if rate and b < a:
        diff = b
    if not rate:
        return diff
    dt = (ts[hi - 1] - ts[hi - 2]) / 1000
    if dt == 0:
        return None
    return diff / dt


def linear_regression(
    ts: Sequence[int], vs: Sequence[float], lo: int, hi: int, t0: int
) -> tuple[float, float]:
    """Least squares slope and intercept at ``t0`` (Prometheus' ``linearRegression``)."""
    n = hi - lo
    const_y = all(vs[i] == vs[lo] for i in range(lo, hi))
    if const_y and math.isfinite(vs[lo]):
        return 0.0, vs[lo]
    sum_x = sum_y = sum_xy = sum_x2 = 0.0
    cx = cy = cxy = cx2 = 0.0
    from compat_prom.query.values import kahan_inc

    for i in range(lo, hi):
        x = (ts[i] - t0) / 1000
        y = vs[i]
        sum_x, cx = kahan_inc(x, sum_x, cx)
        sum_y, cy = kahan_inc(y, sum_y, cy)
        sum_xy, cxy = kahan_inc(x * y, sum_xy, cxy)
        sum_x2, cx2 = kahan_inc(x * x, sum_x2, cx2)
    sum_x += cx
    sum_y += cy
    sum_xy += cxy
    sum_x2 += cx2
    cov = sum_xy - sum_x * sum_y / n
    var = sum_x2 - sum_x * sum_x / n
    slope = cov / var if var != 0 else math.nan
    intercept = sum_y / n - slope * sum_x / n
    return slope, intercept


def window(vs: Sequence[float], lo: int, hi: int) -> list[float]:
    return list(vs[lo:hi])


def _mad(values: list[float]) -> float:
    if any(v != v for v in values):
        return math.nan
    med = quantile(0.5, values)
    return quantile(0.5, [abs(v - med) for v in values])


def _ts_of(ts: Sequence[int], vs: Sequence[float], lo: int, hi: int, pick: str) -> Num:
    best = lo
    for i in range(lo + 1, hi):
        v, b = vs[i], vs[best]
        if (pick == "min" and (v <= b or b != b)) or (pick == "max" and (v >= b or b != b)):
            best = i
    if pick == "last":
        best = hi - 1
    elif pick == "first":
        best = lo
    return ts[best] / 1000


def over_time(name: str) -> RangeFn | None:
    """The ``<agg>_over_time`` family; ``None`` when the name is not one of them."""
    simple: dict[str, Callable[[list[float]], float]] = {
        "avg_over_time": mean,
        "sum_over_time": kahan_sum,
        "count_over_time": lambda w: float(len(w)),
        "min_over_time": float_min,
        "max_over_time": float_max,
        "stdvar_over_time": stdvar,
        "stddev_over_time": lambda w: math.sqrt(stdvar(w)),
        "last_over_time": lambda w: w[-1],
        "first_over_time": lambda w: w[0],
        "present_over_time": lambda w: 1.0,
        "mad_over_time": _mad,
    }
    fn = simple.get(name)
    if fn is not None:
        f = fn

        def run(ts: Sequence[int], vs: Sequence[float], lo: int, hi: int, t: int, rng: int) -> Num:
            if hi <= lo:
                return None
            return f(list(vs[lo:hi]))

        return run
    if name.startswith("ts_of_") and name.endswith("_over_time"):
        pick = name[len("ts_of_") : -len("_over_time")]
        if pick in ("min", "max", "last", "first"):

            def run_ts(
                ts: Sequence[int], vs: Sequence[float], lo: int, hi: int, t: int, rng: int
            ) -> Num:
                if hi <= lo:
                    return None
                return _ts_of(ts, vs, lo, hi, pick)

            return run_ts
    return None


def resets(ts: Sequence[int], vs: Sequence[float], lo: int, hi: int, t: int, rng: int) -> Num:
    if hi <= lo:
        return None
    return float(sum(1 for i in range(lo + 1, hi) if vs[i] < vs[i - 1]))


def changes(ts: Sequence[int], vs: Sequence[float], lo: int, hi: int, t: int, rng: int) -> Num:
    if hi <= lo:
        return None
    count = 0
    for i in range(lo + 1, hi):
        a, b = vs[i - 1], vs[i]
        if a != b and not (a != a and b != b):
            count += 1
    return float(count)


def deriv(ts: Sequence[int], vs: Sequence[float], lo: int, hi: int, t: int, rng: int) -> Num:
    if hi - lo < 2:
        return None
    slope, _ = linear_regression(ts, vs, lo, hi, ts[lo])
    return slope


def predict_linear(horizon_s: float) -> RangeFn:
    def run(ts: Sequence[int], vs: Sequence[float], lo: int, hi: int, t: int, rng: int) -> Num:
        if hi - lo < 2:
            return None
        slope, intercept = linear_regression(ts, vs, lo, hi, t)
        return slope * horizon_s + intercept

    return run


def double_exponential_smoothing(sf: float, tf: float) -> RangeFn:
    def run(ts: Sequence[int], vs: Sequence[float], lo: int, hi: int, t: int, rng: int) -> Num:
        n = hi - lo
        if n < 2:
            return None
        s0, s1 = 0.0, vs[lo]
        b = vs[lo + 1] - vs[lo]
        for i in range(1, n):
            x = sf * vs[lo + i]
            if i > 1:
                b = tf * (s1 - s0) + (1 - tf) * b
            y = (1 - sf) * (s1 + b)
            s0, s1 = s1, x + y
        return s1

    return run


def quantile_over_time(phi: float) -> RangeFn:
    def run(ts: Sequence[int], vs: Sequence[float], lo: int, hi: int, t: int, rng: int) -> Num:
        if hi <= lo:
            return None
        return quantile(phi, list(vs[lo:hi]))

    return run
