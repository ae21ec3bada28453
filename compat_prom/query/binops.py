"""Binary operators: arithmetic, comparisons (with ``bool``), set operators, vector matching.

Semantics follow Prometheus 3.x ``VectorBinop``/``VectorAnd``/``VectorOr``/``VectorUnless``:
matching signatures ignore ``__name__`` unless ``on(__name__)``; arithmetic and ``bool``
drop the metric name (delayed, see engine); a comparison without ``bool`` filters and keeps
the left value; ``group_left``/``group_right`` copy the listed labels from the "one" side.
Matching is redone at every step because the series present can change between steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from operator import add, mul, sub, truediv
from typing import TYPE_CHECKING

from compat_prom.query.ast import Binary
from compat_prom.query.values import Num, ScalarV, Series, Value, VectorV, any_present, none_free
from core.errors import QueryError, Unprocessable
from core.labels import Labels

if TYPE_CHECKING:
    from compat_prom.query.engine import Evaluator

COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
SET_OPS = {"and", "or", "unless"}


def _mod(a: float, b: float) -> float:
    if b == 0 or math.isinf(a) or a != a or b != b:
        return math.nan
    if math.isinf(b):
        return a
    return math.fmod(a, b)


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf if a > 0 or (float(b).is_integer() and b % 2 == 0) else -math.inf
    except ValueError:
        if a == 0 and b < 0:
            return math.inf
        return math.nan


def _div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or a != a:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _atan2(a: float, b: float) -> float:
    return math.atan2(a, b)


def arith(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return _div(a, b)
    if op == "%":
        return _mod(a, b)
    if op == "^":
        return _pow(a, b)
    if op == "atan2":
        return _atan2(a, b)
    raise QueryError(f"unknown operator {op}")


ARITH: dict[str, Callable[[float, float], float]] = {
    "+": add,
    "-": sub,
    "*": mul,
    "/": _div,
    "%": _mod,
    "^": _pow,
    "atan2": _atan2,
}


def compare(op: str, a: float, b: float) -> bool:
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == ">":
        return a > b
    if op == "<":
        return a < b
    if op == ">=":
        return a >= b
    return a <= b


def evaluate(ev: Evaluator, node: Binary, ts: list[int]) -> Value:
    if (node.fill_lhs is not None or node.fill_rhs is not None) and node.card != "one-to-one":
        raise Unprocessable("fill() modifiers are only supported with one-to-one matching")
    lhs = ev.eval(node.lhs, ts)
    rhs = ev.eval(node.rhs, ts)
    op = node.op
    if isinstance(lhs, ScalarV) and isinstance(rhs, ScalarV):
        return ScalarV(
            [
                _scalar_op(op, a, b, node.return_bool)
                for a, b in zip(lhs.values, rhs.values, strict=True)
            ]
        )
    if isinstance(lhs, VectorV) and isinstance(rhs, ScalarV):
        return _vector_scalar(node, lhs.series, rhs.values, scalar_right=True)
    if isinstance(lhs, ScalarV) and isinstance(rhs, VectorV):
        return _vector_scalar(node, rhs.series, lhs.values, scalar_right=False)
    if isinstance(lhs, VectorV) and isinstance(rhs, VectorV):
        if op in SET_OPS:
            return _set_op(node, lhs.series, rhs.series, len(ts))
        return _vector_vector(ev, node, lhs.series, rhs.series, len(ts))
    raise QueryError("binary expression must contain only scalar and instant vector types")


def _scalar_op(op: str, a: float, b: float, return_bool: bool) -> float:
    if op in COMPARISONS:
        return 1.0 if compare(op, a, b) else 0.0
    return arith(op, a, b)


def _vector_scalar(
    node: Binary, series: list[Series], scalars: list[float], *, scalar_right: bool
) -> VectorV:
    op = node.op
    out: list[Series] = []
    is_cmp = op in COMPARISONS
    for s in series:
        values: list[Num] = []
        for v, k in zip(s.values, scalars, strict=True):
            if v is None:
                values.append(None)
                continue
            a, b = (v, k) if scalar_right else (k, v)
            if is_cmp:
                hit = compare(op, a, b)
                if node.return_bool:
                    values.append(1.0 if hit else 0.0)
                else:
                    values.append(v if hit else None)
            else:
                values.append(arith(op, a, b))
        if any_present(values):
            drop = s.drop_name or not is_cmp or node.return_bool
            out.append(Series(s.labels, values, drop))
    return VectorV(out)


def signature(labels: Labels, on: bool, names: list[str]) -> tuple[tuple[str, str], ...]:
    if on:
        keep = set(names)
        return tuple(kv for kv in labels.items_tuple if kv[0] in keep)
    drop = {*names, "__name__"}
    return tuple(kv for kv in labels.items_tuple if kv[0] not in drop)


def _set_op(node: Binary, lhs: list[Series], rhs: list[Series], n: int) -> VectorV:
    lsig = [signature(s.labels, node.on, node.match_labels) for s in lhs]
    rsig = [signature(s.labels, node.on, node.match_labels) for s in rhs]
    if node.op == "and" or node.op == "unless":
        want = node.op == "and"
        present: list[set[tuple[tuple[str, str], ...]]] = [set() for _ in range(n)]
        for r, sig in zip(rhs, rsig, strict=True):
            for i, v in enumerate(r.values):
                if v is not None:
                    present[i].add(sig)
        out = []
        for s, sig in zip(lhs, lsig, strict=True):
            values: list[Num] = [
                v if v is not None and (sig in present[i]) == want else None
                for i, v in enumerate(s.values)
            ]
            if any_present(values):
                out.append(Series(s.labels, values, s.drop_name))
        return VectorV(out)
    # or: all of lhs, plus rhs series whose signature has no lhs sample at that step.
    out = [Series(s.labels, list(s.values), s.drop_name) for s in lhs]
    by_sig: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for j, sig in enumerate(lsig):
        by_sig.setdefault(sig, []).append(j)
    for r, sig in zip(rhs, rsig, strict=True):
        idx = by_sig.get(sig, [])
        values = []
        for i in range(n):
            v = r.values[i]
            if v is None or any(lhs[j].values[i] is not None for j in idx):
                values.append(None)
            else:
                values.append(v)
        if any_present(values):
            out.append(Series(r.labels, values, r.drop_name))
    return VectorV(out)


def _result_labels(node: Binary, many: Labels, one: Labels) -> Labels:
    if node.card == "one-to-one":
        keep = node.on
        many = many.only(*node.match_labels) if keep else many.without(*node.match_labels)
    if node.include:
        items = dict(many.items_tuple)
        for name in node.include:
            value = one.get(name)
            if value:
                items[name] = value
            else:
                items.pop(name, None)
        many = Labels(items)
    return many


def _vector_vector(
    ev: Evaluator, node: Binary, lhs: list[Series], rhs: list[Series], n: int
) -> VectorV:
    op = node.op
    is_cmp = op in COMPARISONS
    # The "one" side is always on the right; group_right swaps the operands.
    swapped = node.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    msig = [signature(s.labels, node.on, node.match_labels) for s in many]
    osig = [signature(s.labels, node.on, node.match_labels) for s in one]
    result_labels: dict[tuple[int, int], Labels] = {}
    out: dict[Labels, Series] = {}
    drop = (not is_cmp) or node.return_bool
    produced: set[Labels] = set()

    def _labels_for(k: int, j: int) -> Labels:
        labels = result_labels.get((k, j))
        if labels is None:
            labels = _result_labels(node, many[k].labels, one[j].labels)
            result_labels[(k, j)] = labels
        return labels

    if not is_cmp and node.fill_lhs is None and node.fill_rhs is None:
        columns = _static_matches(node, many, one, msig, osig, _labels_for)
        if columns is not None:
            return _arith_columns(ev, op, columns, swapped, n)

    def emit(i: int, a: float, b: float, labels: Labels, drop_name: bool) -> None:
        if is_cmp:
            hit = compare(op, a, b)
            if node.return_bool:
                value = 1.0 if hit else 0.0
            elif hit:
                value = a
            else:
                return
        else:
            value = arith(op, a, b)
        if labels in produced:
            raise Unprocessable(
                "multiple matches for labels: grouping labels must ensure unique matches"
            )
        produced.add(labels)
        target = out.get(labels)
        if target is None:
            ev.charge(n)
            target = Series(labels, [None] * n, drop or drop_name)
            out[labels] = target
        target.values[i] = value

    for i in range(n):
        ev.check_time()
        produced.clear()
        matched: set[int] = set()
        right: dict[tuple[tuple[str, str], ...], int] = {}
        for j, s in enumerate(one):
            if s.values[i] is None:
                continue
            if osig[j] in right:
                side = "left" if swapped else "right"
                raise Unprocessable(
                    f"found duplicate series for the match group {_fmt_sig(osig[j])} on the {side} "
                    "hand-side of the operation: many-to-many matching not allowed: "
                    "matching labels "
                    "must be unique on one side"
                )
            right[osig[j]] = j
        seen_many: dict[tuple[tuple[str, str], ...], int] = {}
        for k, s in enumerate(many):
            lv = s.values[i]
            if lv is None:
                continue
            found = right.get(msig[k])
            if found is None:
                continue
            j = found
            if node.card == "one-to-one":
                if msig[k] in seen_many:
                    raise Unprocessable(
                        "multiple matches for labels: many-to-one matching must be explicit "
                        "(group_left/group_right)"
                    )
                seen_many[msig[k]] = k
            matched.add(j)
            rv = one[j].values[i]
            assert rv is not None
            a, b = (rv, lv) if swapped else (lv, rv)
            emit(i, a, b, _labels_for(k, j), s.drop_name)
        # fill_left/fill_right (Prometheus 3 experimental): a missing side takes the fill value.
        if node.fill_rhs is not None:
            for k, s in enumerate(many):
                lv = s.values[i]
                if lv is not None and msig[k] not in right:
                    emit(
                        i, lv, node.fill_rhs, _result_labels(node, s.labels, s.labels), s.drop_name
                    )
        if node.fill_lhs is not None:
            for j in right.values():
                if j in matched:
                    continue
                rv = one[j].values[i]
                assert rv is not None
                labels = _result_labels(node, one[j].labels.without("__name__"), one[j].labels)
                emit(i, node.fill_lhs, rv, labels, False)
    return VectorV(list(out.values()))


Match = tuple[Labels, Series, Series]  # result labels, the "many" and the "one" operand


def _static_matches(
    node: Binary,
    many: list[Series],
    one: list[Series],
    msig: list[tuple[tuple[str, str], ...]],
    osig: list[tuple[tuple[str, str], ...]],
    labels_for: Callable[[int, int], Labels],
) -> list[Match] | None:
    """The matched pairs when they are the same at every step, or None.

    They are when no two "one" series share a signature (and, one-to-one, no two "many"
    series) and no two pairs give the same result labels: then none of the per-step
    errors (duplicate series, multiple matches) can arise at any step, and a pair's values
    can be computed as whole columns.
    """
    if len(set(osig)) != len(osig):
        return None
    if node.card == "one-to-one" and len(set(msig)) != len(msig):
        return None
    right = {sig: j for j, sig in enumerate(osig)}
    pairs = [(k, right[sig]) for k, sig in enumerate(msig) if sig in right]
    out = [(labels_for(k, j), many[k], one[j]) for k, j in pairs]
    if len({labels for labels, _, _ in out}) != len(out):
        return None
    return out


def _arith_columns(ev: Evaluator, op: str, matches: list[Match], swapped: bool, n: int) -> VectorV:
    """Arithmetic of each matched pair over all steps: one C-level ``map`` when neither
    side misses a step (a panel's ratio of two sums), else one pass skipping the gaps."""
    fn = ARITH[op]
    out: list[Series] = []
    for labels, m, o in matches:
        left, right = (o.values, m.values) if swapped else (m.values, o.values)
        step_fn = truediv if fn is _div and 0.0 not in right else fn
        values: list[Num]
        if none_free(left) and none_free(right):
            values = list(map(step_fn, left, right))  # type: ignore[arg-type]
        else:
            values = [
                None if a is None or b is None else step_fn(a, b)
                for a, b in zip(left, right, strict=True)
            ]
        if any_present(values):
            ev.charge(n)
            out.append(Series(labels, values, True))
    return VectorV(out)


def _fmt_sig(sig: tuple[tuple[str, str], ...]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sig) + "}"
