"""``sum(rate(x[r]))`` as the rate of the summed counters: the dashboard query, per group.

Why: a 24 h panel of ``sum by (endpoint) (rate(http_requests_total[5m]))`` computes a rate
for every series at every step and then adds them up, step by step: two passes over
series x steps in Python. For counters scraped at the same instants (they share their
windows), without resets or NaN in the range, Prometheus' rate is linear in the values
as long as no window's extrapolation is cut at the counter's zero point:

    sum_i (v_i[last] - v_i[first]) * factor  =  (V[last] - V[first]) * factor,  V = sum_i v_i

so the members of a group are added point by point (one C-level ``sum`` per point) and the
group gets one rate. The zero-point cut (``to_zero < to_start``, only where a counter's
first value is small against its increase, i.e. young counters) is ruled out per member on
runs of 64 steps at a time: in a run, its first value is at least the one at the run's first
sample and its increase at most the one over the run's samples (the value never decreases),
so one comparison per run clears it. Only the runs not cleared are checked step by step and
their cut windows corrected exactly.

Precision: each member is summed relative to its first value, so the rounding error is of
the order of the range's increase times 1e-16 per member, not of the counters' absolute
size (a ~1e-12 relative difference from per-series summation; the conformance suite
compares to 1e-6). Series that do not qualify (resets, NaN, their own timestamps) take the
per-series path, and the aggregation adds both parts as usual.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import compress, repeat
from operator import le, mul, sub
from typing import TYPE_CHECKING, cast

from compat_prom.query import functions, rangefns
from compat_prom.query.aggregate import group_labels
from compat_prom.query.ast import Aggregate, Call, MatrixSel
from compat_prom.query.values import (
    MatrixV,
    Num,
    RangeSeries,
    Series,
    VectorV,
    ascending,
    has_nan,
)
from core.labels import Labels

if TYPE_CHECKING:
    from compat_prom.query.engine import Evaluator

COUNTER_RATES = ("rate", "increase")


def applies(node: Aggregate) -> bool:
    """``sum [by|without (...)] (rate|increase(<selector>[<range>]))``."""
    expr = node.expr
    return (
        node.op == "sum"
        and isinstance(expr, Call)
        and expr.name in COUNTER_RATES
        and len(expr.args) == 1
        and isinstance(expr.args[0], MatrixSel)
    )


def summed_rates(ev: Evaluator, node: Aggregate, ts: list[int]) -> VectorV:
    """The rate series of ``node.expr``, with each group's qualifying members already
    added up (one series in their place); the aggregation then sums as usual."""
    call = node.expr
    assert isinstance(call, Call)
    m = ev.eval(call.args[0], ts)
    assert isinstance(m, MatrixV)
    rate = call.name == "rate"
    buckets: dict[tuple[Labels, int], list[RangeSeries]] = {}
    rest: list[RangeSeries] = []
    for rs in m.series:
        if _qualifies(rs):
            key = (group_labels(rs.labels, node.grouping, node.without), id(rs.windows))
            buckets.setdefault(key, []).append(rs)
        else:
            rest.append(rs)
    out: list[Series] = []
    for members in buckets.values():
        if len(members) == 1:
            rest.extend(members)
            continue
        geo = ev.geometry(members[0], m.times, m.range_ms, rate)
        values = _group_steps([rs.vs for rs in members], geo)
        ev.check_time()
        if values is None:
            continue
        for rs in members:
            ev.charge(len(values))
            functions.counter_note(ev, rs.labels)
        out.append(Series(members[0].labels, values, True))
    if rest:
        out.extend(
            functions.rate_series(ev, MatrixV(rest, m.times, m.range_ms), counter=True, rate=rate)
        )
    return VectorV(out)


def _qualifies(rs: RangeSeries) -> bool:
    """Windows over several steps, no NaN, no counter reset (values ascending)."""
    return len(rs.windows) >= 2 and not has_nan(rs.vs) and ascending(rs.vs)


def _group_steps(members: Sequence[Sequence[float]], geo: rangefns.Geometry) -> list[Num] | None:
    """Per step the sum of the members' ``counter_steps``, or None without a valid step."""
    if not geo.valid:
        return None
    # each point's sum over the members (relative to their first values), added in C
    total = list(map(sum, zip(*[map(sub, vs, repeat(vs[0])) for vs in members], strict=True)))
    windows = geo.distinct
    increase = list(map(sub, windows.take_lasts(total), windows.take_los(total)))
    values: list[float] = list(map(mul, windows.spread(increase), geo.factor))
    blocks = geo.blocks
    size = blocks.SIZE
    for vs in members:
        for b in _young_blocks(vs, blocks):
            start = blocks.starts[b]
            _correct_young(values, vs, geo, start, min(start + size, len(values)))
    valid = geo.valid
    if len(valid) == geo.n:
        return cast(list[Num], values)
    out: list[Num] = [None] * geo.n
    if valid[-1] - valid[0] + 1 == len(valid):  # one run of steps (the usual case)
        out[valid[0] : valid[-1] + 1] = values
    else:
        for k, v in zip(valid, values, strict=True):
            out[k] = v
    return out


def _young_blocks(vs: Sequence[float], blocks: rangefns.StepBlocks) -> Iterator[int]:
    """The runs of steps where a window of this member might be cut at its zero point.

    A window is cut only where ``first < q * increase``. In a run, the member's first value
    is at least its value at the run's first sample and its increase at most the increase
    over the run's samples (it never decreases), so a run where
    ``value at first > q_max * (value at last - value at first)`` has no cut window: C-level
    maps over ~90 runs a member for a 24 h panel, instead of a pass over every step. The
    same test over the whole range first clears an old counter (the usual one) at once.
    """
    get = vs.__getitem__
    start = get(blocks.first[0])
    if start > max(blocks.q_max) * (get(blocks.last[-1]) - start):
        return iter(())
    firsts = list(map(get, blocks.first))
    increases = map(sub, map(get, blocks.last), firsts)
    return compress(range(len(firsts)), map(le, firsts, map(mul, blocks.q_max, increases)))


def _correct_young(
    values: list[float], vs: Sequence[float], geo: rangefns.Geometry, lo: int, hi: int
) -> None:
    """Replace, in the group's ``values``, this member's linear share by its exact rate in
    the windows (of steps ``lo`` to ``hi - 1``) that Prometheus cuts at the zero point."""
    get = vs.__getitem__
    firsts = list(map(get, geo.los[lo:hi]))
    increases = list(map(sub, map(get, geo.lasts[lo:hi]), firsts))
    near = map(le, firsts, map(mul, geo.q[lo:hi], increases))
    for i in compress(range(hi - lo), near):
        r, first, j = increases[i], firsts[i], lo + i
        if r > 0 and first >= 0:
            sampled = geo.sampled[j]
            to_zero = sampled * first / r
            if to_zero < geo.to_start[j]:
                exact = r * ((sampled + to_zero + geo.to_end[j]) / sampled * geo.scale)
                values[j] += exact - r * geo.factor[j]
