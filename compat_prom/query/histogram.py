"""``histogram_quantile`` and ``histogram_fraction`` over classic ``_bucket{le}`` series.

Follows Prometheus' ``BucketQuantile``: buckets sorted by ``le``, same-bound buckets
merged, counts forced monotonic (tiny float noise below 1e-12 relative is ignored), a
``+Inf`` bucket required, linear interpolation inside the bucket (0 as the lower bound of
the first bucket when it is positive). Native histograms are not stored, so there is no
native path.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import compress, pairwise, repeat
from operator import add, and_, eq, is_, le, lt, mul, ne, not_, or_, sub, truediv
from typing import TYPE_CHECKING, cast

from compat_prom.query.values import (
    Series,
    VectorV,
    any_present,
    format_value,
    has_nan,
    leading_nones,
    none_free,
)
from core.labels import Labels

if TYPE_CHECKING:
    from compat_prom.query.engine import Evaluator

Buckets = list[tuple[float, float]]  # (upper bound, cumulative count)


def _parse_le(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        return None


def _coalesce(buckets: Buckets) -> Buckets:
    buckets.sort(key=lambda b: b[0])
    out: Buckets = []
    for ub, c in buckets:
        if out and out[-1][0] == ub:
            out[-1] = (ub, out[-1][1] + c)
        else:
            out.append((ub, c))
    return out


def _monotonic(buckets: Buckets) -> tuple[Buckets, bool]:
    forced = False
    prev = buckets[0][1]
    out = [buckets[0]]
    for ub, c in buckets[1:]:
        if c == prev:
            out.append((ub, c))
            continue
        if abs(c - prev) <= 1e-12 * max(abs(c), abs(prev)):
            out.append((ub, prev))
            continue
        if c < prev:
            out.append((ub, prev))
            forced = True
            continue
        out.append((ub, c))
        prev = c
    return out, forced


def bucket_quantile(q: float, raw: Buckets) -> tuple[float, bool]:
    if q != q:
        return math.nan, False
    if q < 0:
        return -math.inf, False
    if q > 1:
        return math.inf, False
    buckets = _coalesce(list(raw))
    if not buckets or not math.isinf(buckets[-1][0]) or buckets[-1][0] < 0:
        return math.nan, False
    buckets, forced = _monotonic(buckets)
    if len(buckets) < 2:
        return math.nan, forced
    total = buckets[-1][1]
    if total == 0 or total != total:
        return math.nan, forced
    rank = q * total
    counts = [c for _, c in buckets[:-1]]
    b = bisect_left(counts, rank)
    if b == len(buckets) - 1:
        return buckets[-2][0], forced
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0], forced
    start = 0.0
    end, count = buckets[b]
    if b > 0:
        start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    return start + (end - start) * go_div(rank, count), forced


def go_div(a: float, b: float) -> float:
    """``a / b`` as Go's floats divide: by zero gives NaN or a signed infinity, not an
    error (``histogram_quantile(0, …)`` over an empty first bucket is 0 / 0)."""
    if b:
        return a / b
    if a == 0 or a != a:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def bucket_fraction(lower: float, upper: float, raw: Buckets) -> float:
    buckets = _coalesce(list(raw))
    if not buckets or not math.isinf(buckets[-1][0]) or buckets[-1][0] < 0:
        return math.nan
    buckets, _ = _monotonic(buckets)
    total = buckets[-1][1]
    if total == 0 or lower != lower or upper != upper:
        return math.nan
    if lower >= upper:
        return 0.0

    def rank_at(x: float) -> float:
        prev_ub, prev_c = -math.inf, 0.0
        for i, (ub, c) in enumerate(buckets):
            lb = prev_ub
            if i == 0 and ub > 0:
                lb = 0.0
            if x == ub:
                return c
            if x < ub:
                if x <= lb:
                    return prev_c
                if math.isinf(lb):
                    return c  # no interpolation in a bucket of infinite width
                if math.isinf(ub):
                    return prev_c
                return prev_c + (c - prev_c) * (x - lb) / (ub - lb)
            prev_ub, prev_c = ub, c
        return total

    return (rank_at(upper) - rank_at(lower)) / total


def _grouped(
    ev: Evaluator, series: list[Series], fname: str
) -> tuple[dict[Labels, list[tuple[float, Series]]], dict[Labels, bool]]:
    groups: dict[Labels, list[tuple[float, Series]]] = {}
    for s in series:
        le = _parse_le(s.labels.get("le"))
        name = s.labels.get("__name__") or ""
        if le is None:
            shown = s.labels.get("le") or ""
            ev.notes.warn(
                f'bucket label "le" is missing or has a malformed value of "{shown}" '
                f'for metric name "{name}"'
            )
            continue
        key = s.labels.without("le")
        groups.setdefault(key, []).append((le, s))
    return groups, {}


def quantile(ev: Evaluator, phis: list[float], series: list[Series]) -> VectorV:
    for p in set(phis):
        if not 0 <= p <= 1:
            ev.notes.warn(f"quantile value should be between 0 and 1, got {format_value(p)}")
    groups, _ = _grouped(ev, series, "histogram_quantile")
    out = []
    for key, members in groups.items():
        values, slow = _quantile_steps(phis, members)
        for i in slow:
            buckets = [(le, s.values[i]) for le, s in members if s.values[i] is not None]
            if not buckets:
                continue
            q, forced = bucket_quantile(phis[i], buckets)  # type: ignore[arg-type]
            if forced:
                name = members[0][1].labels.get("__name__") or ""
                ev.notes.info(
                    "input to histogram_quantile needed to be fixed for monotonicity (see "
                    "https://prometheus.io/docs/prometheus/latest/querying/functions/"
                    "#histogram_quantile) "
                    f'for metric name "{name}"'
                )
            values[i] = q
        if any_present(values):
            out.append(Series(key, values, True))
    return VectorV(out)


def _quantile_steps(
    phis: list[float], members: list[tuple[float, Series]]
) -> tuple[list[float | None], Sequence[int]]:
    """``bucket_quantile`` at every step where the buckets need no care, in C-level maps
    across the steps, and the steps left for ``bucket_quantile`` itself.

    A 24 h panel at 15 s asks for ~5,800 quantiles; one at a time, sorting and checking the
    buckets cost more than the rest of the query. The shortcut takes one φ in [0, 1],
    distinct bounds ending in ``+Inf`` and no negative count; then a step is left to
    ``bucket_quantile`` when a bucket is missing or NaN there, or a bucket is below the one
    before it, or rises by no more than the 1e-12 noise ``_monotonic`` flattens.
    The rank search is a count of the buckets below the rank, summed over the buckets.
    """
    n = len(phis)
    out: list[float | None] = [None] * n
    q = phis[0] if phis else math.nan
    ordered = sorted(members, key=lambda m: m[0])
    bounds = [le for le, _ in ordered]
    if (
        n == 0
        or not 0 <= q <= 1
        or phis.count(q) != n
        or len(ordered) < 2
        or len(set(bounds)) != len(bounds)
        or bounds[-1] != math.inf
    ):
        return out, range(n)
    # The first steps, before every bucket has a value (a range's start), are left out;
    # steps with a missing or NaN bucket later on are left to bucket_quantile (0 stands
    # in for them). From here on a step's index is counted from ``skip``.
    skip = max(leading_nones(s.values) for _, s in ordered)
    n -= skip
    if n <= 0:
        return out, range(skip)
    needs_care = [False] * n
    cols: list[list[float]] = []
    for _, s in ordered:
        col = cast(list[float], s.values[skip:] if skip else s.values)
        if not none_free(col):
            needs_care = list(map(or_, needs_care, map(is_, col, repeat(None))))
            col = [0.0 if v is None else v for v in col]
        if has_nan(col):
            needs_care = list(map(or_, needs_care, map(ne, col, col)))
            col = [0.0 if v != v else v for v in col]
        cols.append(col)
    if min(map(min, cols)) < 0:
        return out, range(skip + n)
    tol = list(map(mul, map(max, *cols), repeat(1e-12)))
    for below, col in pairwise(cols):
        rise = list(map(sub, col, below))
        flat_or_noise = list(map(le, rise, tol))  # a fall, no rise, or a rise within noise
        if any(flat_or_noise):
            careful = map(and_, flat_or_noise, map(ne, rise, repeat(0.0)))
            needs_care = list(map(or_, needs_care, careful))
    total = cols[-1]
    rank = list(map(mul, repeat(q), total))
    below_rank = [0] * n  # bisect_left over all buckets but +Inf: the ones below the rank
    for col in cols[:-1]:
        below_rank = list(map(add, below_rank, map(lt, col, rank)))
    # The steps are taken a bucket at a time (the bucket the rank falls in), each formula
    # as C-level maps over that bucket's steps.
    steps = list(compress(range(n), map(not_, needs_care)))
    found = list(map(below_rank.__getitem__, steps))
    last = len(cols) - 1
    for b in set(found):
        at = list(compress(steps, map(eq, found, repeat(b))))
        if b == last:
            values: list[float] = [bounds[-2]] * len(at)
        elif b == 0:  # the first bucket: lower bound 0 (or its own bound when <= 0)
            end = bounds[0]
            values = [
                math.nan
                if total[i] == 0
                else end
                if end <= 0
                else 0.0 + (end - 0.0) * go_div(rank[i], cols[0][i])
                for i in at
            ]
        else:  # start + (end - start) * ((rank - under) / (count - under)), under < rank
            start, end = bounds[b - 1], bounds[b]
            under = list(map(cols[b - 1].__getitem__, at))
            over = map(cols[b].__getitem__, at)
            ranks = map(rank.__getitem__, at)
            fractions = map(truediv, map(sub, ranks, under), map(sub, over, under))
            values = list(map(add, repeat(start), map(mul, repeat(end - start), fractions)))
        for i, v in zip(at, values, strict=True):
            out[skip + i] = v
    return out, [*range(skip), *compress(range(skip, skip + n), needs_care)]


def quantiles(ev: Evaluator, label: str, phis: list[list[float]], series: list[Series]) -> VectorV:
    """``histogram_quantiles(v, "q", φ1, φ2, ...)``: one series per φ, labelled ``q``."""
    out: list[Series] = []
    for column in phis:
        for s in quantile(ev, column, series).series:
            items = dict(s.labels.items_tuple)
            phi = column[0]
            items[label] = (
                "NaN" if phi != phi else format_value(phi) if math.isinf(phi) else repr(phi)
            )
            out.append(Series(Labels(items), s.values, True))
    return VectorV(out)


def fraction(
    ev: Evaluator, lower: list[float], upper: list[float], series: list[Series]
) -> VectorV:
    groups, _ = _grouped(ev, series, "histogram_fraction")
    out = []
    for key, members in groups.items():
        values: list[float | None] = []
        for i in range(len(lower)):
            buckets = [(le, s.values[i]) for le, s in members if s.values[i] is not None]
            values.append(bucket_fraction(lower[i], upper[i], buckets) if buckets else None)  # type: ignore[arg-type]
        if any_present(values):
            out.append(Series(key, values, True))
    return VectorV(out)
