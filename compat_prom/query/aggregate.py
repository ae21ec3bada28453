"""Aggregation operators (``sum by (x) (...)`` and friends), per step.

Grouping keys are computed once per input series, then each step folds the samples
present. Numerics follow Prometheus: Kahan summation for ``sum``/``avg`` (incremental mean
on overflow), Welford for ``stddev``/``stdvar``, NaN-aware ``min``/``max``, ``topk`` /
``bottomk`` keep NaN last and the first-seen series on ties.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from itertools import compress, repeat
from operator import is_not
from typing import TYPE_CHECKING, cast

from compat_prom.query.ast import Aggregate, StringLit
from compat_prom.query.values import (
    Num,
    ScalarV,
    Series,
    StringV,
    Value,
    VectorV,
    any_present,
    format_value,
    kahan_sum,
    mean,
)
from core.errors import QueryError
from core.labels import Labels

if TYPE_CHECKING:
    from compat_prom.query.engine import Evaluator

Key = tuple[tuple[str, str], ...]


def group_labels(labels: Labels, grouping: list[str], without: bool) -> Labels:
    if without:
        return labels.without(*grouping, "__name__")
    return labels.only(*grouping)


def _nan_first(v: float) -> tuple[bool, float]:
    return (v == v, v if v == v else 0.0)


def quantile(phi: float, values: list[float]) -> float:
    """Prometheus' ``quantile`` (linear interpolation between closest ranks)."""
    if not values:
        return math.nan
    if phi != phi:
        return math.nan
    if phi < 0:
        return -math.inf
    if phi > 1:
        return math.inf
    ordered = sorted(values, key=_nan_first)
    n = len(ordered)
    rank = phi * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def stdvar(values: list[float]) -> float:
    count, avg, m2 = 0.0, 0.0, 0.0
    for v in values:
        count += 1
        delta = v - avg
        avg += delta / count
        m2 += delta * (v - avg)
    return m2 / count


def float_min(values: list[float]) -> float:
    """Prometheus' min: NaN only when every value is NaN."""
    best = values[0]
    for v in values[1:]:
        if best > v or best != best:
            best = v
    return best


def float_max(values: list[float]) -> float:
    """Prometheus' max: NaN only when every value is NaN."""
    best = values[0]
    for v in values[1:]:
        if best < v or best != best:
            best = v
    return best


SIMPLE: dict[str, Callable[[list[float]], float]] = {
    "sum": kahan_sum,
    "avg": mean,
    "count": lambda vs: float(len(vs)),
    "group": lambda vs: 1.0,
    "min": float_min,
    "max": float_max,
    "stdvar": stdvar,
    "stddev": lambda vs: math.sqrt(stdvar(vs)),
}


def evaluate(ev: Evaluator, node: Aggregate, ts: list[int]) -> Value:
    op = node.op
    n = len(ts)
    param_values: list[float] | None = None
    label_param: str | None = None
    if node.param is not None:
        if op == "count_values":
            p = ev.eval(node.param, ts)
            if not isinstance(p, StringV) or not isinstance(node.param, StringLit):
                raise QueryError("count_values requires a string label name")
            label_param = p.value
        else:
            pv = ev.eval(node.param, ts)
            if not isinstance(pv, ScalarV):
                raise QueryError(f"expected scalar parameter for {op}")
            param_values = pv.values
    inner = ev.eval_aggregand(node, ts)
    if not isinstance(inner, VectorV):
        raise QueryError("expected instant vector in aggregation expression")
    series = inner.series
    if op in SIMPLE:
        return _simple(ev, node, series, n)
    if op == "quantile":
        assert param_values is not None
        for phi in set(param_values):
            if not 0 <= phi <= 1:
                ev.notes.warn(f"quantile value should be between 0 and 1, got {format_value(phi)}")
        return _fold(node, series, n, lambda i, vs: quantile(param_values[i], vs), ev)
    if op == "count_values":
        assert label_param is not None
        return _count_values(node, series, n, label_param)
    if op in ("topk", "bottomk"):
        assert param_values is not None
        return _top_bottom(node, series, n, param_values)
    if op in ("limitk", "limit_ratio"):
        assert param_values is not None
        return _select(ev, node, series, n, param_values)
    raise QueryError(f"unsupported aggregation {op}")


def _groups(node: Aggregate, series: list[Series]) -> tuple[list[Labels], list[int], list[bool]]:
    """Group label sets, each series' group, and per group whether its name is to be dropped.

    With delayed name removal a kept ``__name__`` (``by (__name__)``) is dropped later if
    any member was marked (Prometheus 3 propagates the mark through aggregations).
    """
    keys: dict[Labels, int] = {}
    index: list[int] = []
    drop: list[bool] = []
    for s in series:
        g = group_labels(s.labels, node.grouping, node.without)
        k = keys.setdefault(g, len(keys))
        if k == len(drop):
            drop.append(False)
        if s.drop_name and "__name__" in g:
            drop[k] = True
        index.append(k)
    return list(keys), index, drop


def _fold(
    node: Aggregate,
    series: list[Series],
    n: int,
    fn: Callable[[int, list[float]], float],
    ev: Evaluator,
) -> VectorV:
    groups, index, drop = _groups(node, series)
    out = [Series(g, [None] * n, d) for g, d in zip(groups, drop, strict=True)]
    for i in range(n):
        buckets: dict[int, list[float]] = {}
        for s, g in zip(series, index, strict=True):
            v = s.values[i]
            if v is not None:
                buckets.setdefault(g, []).append(v)
        for g, vs in buckets.items():
            out[g].values[i] = fn(i, vs)
    return VectorV([s for s in out if any_present(s.values)])


def _simple(ev: Evaluator, node: Aggregate, series: list[Series], n: int) -> VectorV:
    """Column-wise: ``zip(*values)`` of a group's members gives each step's samples in C."""
    fn = SIMPLE[node.op]
    groups, index, drop = _groups(node, series)
    members: list[list[list[Num]]] = [[] for _ in groups]
    for s, g in zip(series, index, strict=True):
        members[g].append(s.values)
    out = []
    for g, labels in enumerate(groups):
        values: list[Num] = []
        if node.op == "sum" and len(members[g]) == 1:
            # a sum of one series is its value (Prometheus starts a sum with the first one)
            values = list(members[g][0])
        else:
            for column in zip(*members[g], strict=True):
                present = [v for v in column if v is not None]
                values.append(fn(present) if present else None)
        ev.check_time()
        if any_present(values):
            out.append(Series(labels, values, drop[g]))
    return VectorV(out)


def _count_values(node: Aggregate, series: list[Series], n: int, label: str) -> VectorV:
    if (
        not label
        or not (label[0].isalpha() or label[0] == "_")
        or not all(c.isalnum() or c == "_" for c in label)
    ):
        raise QueryError(f"invalid label name {label!r}")
    out: dict[Labels, Series] = {}
    for i in range(n):
        for s in series:
            v = s.values[i]
            if v is None:
                continue
            base = dict(group_labels(s.labels, node.grouping, node.without).items_tuple)
            base[label] = format_value(v)
            key = Labels(base)
            target = out.get(key)
            if target is None:
                target = out[key] = Series(key, [None] * n)
            target.values[i] = (target.values[i] or 0.0) + 1.0
    return VectorV(list(out.values()))


def _ratio_offset(labels: Labels) -> float:
    digest = hashlib.blake2b(labels.canonical().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / float(2**64)


def _k_param(p: float) -> int:
    if p != p:
        raise QueryError("Parameter value is NaN")
    if abs(p) >= 2**63:
        raise QueryError(f"Scalar value {format_value(p)} overflows int64")
    return int(p)


def _nan_smallest(v: float) -> tuple[bool, float]:
    return (v == v, v)


def _nan_largest(v: float) -> tuple[bool, float]:
    return (v != v, v)


def _top_bottom(node: Aggregate, series: list[Series], n: int, params: list[float]) -> VectorV:
    """``topk``/``bottomk`` per step and group: a C sort of the members with a value
    (stable, also reversed, so ties keep the first-seen series), NaN ranked last."""
    top = node.op == "topk"
    _, index, _ = _groups(node, series)
    members: dict[int, list[int]] = {}
    for k, g in enumerate(index):
        members.setdefault(g, []).append(k)
    out = [Series(s.labels, [None] * n, s.drop_name) for s in series]
    order: list[int] = []
    if not series:
        for p in params:
            _k_param(p)  # a bad parameter is an error even over an empty vector
    groups = list(members.values())
    k_counts = {p: _k_param(p) for p in set(params)}
    for i, column in enumerate(zip(*(s.values for s in series), strict=True)):
        k_count = k_counts[params[i]]
        if k_count < 1:
            continue
        get = column.__getitem__
        chosen: list[int] = []
        if not column.count(None) and (whole := sum(column)) == whole:
            # every member has a value and none is NaN (the usual step): sort, no filtering
            for ks in groups:
                chosen.extend(sorted(ks, key=get, reverse=top)[:k_count])
        else:
            chosen = _top_bottom_step(groups, cast(Callable[[int], float], get), k_count, top)
        for k in chosen:
            out[k].values[i] = column[k]
        order = chosen
    if n == 1:
        return VectorV([out[k] for k in order])
    return VectorV([s for s in out if any_present(s.values)])


def _top_bottom_step(
    groups: list[list[int]], get: Callable[[int], float], k_count: int, top: bool
) -> list[int]:
    """One step of ``_top_bottom`` where some member has no value or a NaN."""
    nan_last = _nan_smallest if top else _nan_largest
    chosen: list[int] = []
    for ks in groups:
        present = list(compress(ks, map(is_not, map(get, ks), repeat(None))))
        total = sum(map(get, present))  # NaN when a NaN is among them (or +Inf and -Inf)
        if total == total:
            chosen.extend(sorted(present, key=get, reverse=top)[:k_count])
        else:
            ranked = sorted(present, key=lambda k: nan_last(get(k)), reverse=top)
            chosen.extend(ranked[:k_count])
    return chosen


def _select(
    ev: Evaluator, node: Aggregate, series: list[Series], n: int, params: list[float]
) -> VectorV:
    """``limitk`` and ``limit_ratio``: which members of each group are kept, per step."""
    op = node.op
    _, index, _ = _groups(node, series)
    out = [Series(s.labels, [None] * n, s.drop_name) for s in series]
    for i in range(n):
        p = params[i]
        members: dict[int, list[int]] = {}
        for k, s in enumerate(series):
            if s.values[i] is not None:
                members.setdefault(index[k], []).append(k)
        chosen: list[int] = []
        if op == "limit_ratio":
            if p != p:
                raise QueryError("Ratio value is NaN")
            if p > 1 or p < -1:
                ev.notes.warn(
                    f"ratio value should be between -1 and 1, got {format_value(p)}, "
                    f"capping to {1 if p > 0 else -1}"
                )
                p = max(-1.0, min(1.0, p))
            for ks in members.values():
                for k in ks:
                    off = _ratio_offset(series[k].labels)
                    if (p >= 0 and off < p) or (p < 0 and off >= 1 + p):
                        chosen.append(k)
        else:  # limitk
            k_count = _k_param(p)
            if k_count < 1:
                continue
            for ks in members.values():
                chosen.extend(ks[:k_count])
        for k in chosen:
            out[k].values[i] = series[k].values[i]
    return VectorV([s for s in out if any_present(s.values)])


__all__ = ["Key", "Num", "evaluate", "quantile"]
