"""Vector aggregations, binary operators and ``label_replace`` over step matrices. Pure.

A matrix maps a label set to one optional value per evaluation step; a scalar is one value
per step. Semantics are Prometheus' (which LogQL adopts for these): one-to-one matching on
all labels unless ``on``/``ignoring``, ``group_left``/``group_right`` for many-to-one,
comparison operators filter unless ``bool``, and ``and``/``or``/``unless`` are set
operations per step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from compat_loki.query import ast
from core.errors import QueryError
from core.labels import Labels, compile_anchored
from core.lazyre2 import re2

Matrix = dict[Labels, list[float | None]]


@dataclass
class Scalar:
    values: list[float]


Value = Matrix | Scalar


def _arith(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            return (
                math.nan
                if a == 0 or math.isnan(a)
                else math.copysign(math.inf, a) * (math.copysign(1, b))
            )
        return a / b
    if op == "%":
        return math.fmod(a, b) if b != 0 else math.nan
    if op == "^":
        try:
            return float(a**b) if not (a < 0 and not float(b).is_integer()) else math.nan
        except OverflowError:
            return math.inf
        except ZeroDivisionError:
            return math.inf
    raise QueryError(f"unknown operator {op}")


def _compare(op: str, a: float, b: float) -> bool:
    return {
        "==": a == b,
        "!=": a != b,
        ">": a > b,
        ">=": a >= b,
        "<": a < b,
        "<=": a <= b,
    }[op]


def _apply(op: str, a: float, b: float, bool_mod: bool) -> float | None:
    """Value of ``a op b``; None when a comparison without ``bool`` filters it out."""
    if op in ast.COMPARISON_OPS:
        hit = _compare(op, a, b)
        if bool_mod:
            return 1.0 if hit else 0.0
        return a if hit else None
    return _arith(op, a, b)


def _signature(labels: Labels, matching: ast.VectorMatching | None) -> Labels:
    if matching is None:
        return labels
    if matching.on:
        return labels.only(*matching.labels)
    return labels.without(*matching.labels)


def binary(
    op: str, left: Value, right: Value, bool_mod: bool, matching: ast.VectorMatching | None
) -> Value:
    if isinstance(left, Scalar) and isinstance(right, Scalar):
        if op in ast.COMPARISON_OPS and not bool_mod:
            raise QueryError("comparisons between scalars must use BOOL modifier")
        if op in ast.SET_OPS:
            raise QueryError(f"set operator {op} not allowed between scalars")
        pairs = zip(left.values, right.values, strict=True)
        return Scalar([_apply(op, a, b, True) or 0.0 for a, b in pairs])
    if op in ast.SET_OPS:
        if isinstance(left, Scalar) or isinstance(right, Scalar):
            raise QueryError(f"set operator {op} not allowed in binary scalar expression")
        return _set_op(op, left, right, matching)
    if isinstance(right, Scalar):
        return _vector_scalar(op, left, right, bool_mod, scalar_right=True)  # type: ignore[arg-type]
    if isinstance(left, Scalar):
        return _vector_scalar(op, right, left, bool_mod, scalar_right=False)
    return _vector_vector(op, left, right, bool_mod, matching)


def _vector_scalar(
    op: str, vec: Matrix, scalar: Scalar, bool_mod: bool, *, scalar_right: bool
) -> Matrix:
    out: Matrix = {}
    for labels, points in vec.items():
        new: list[float | None] = []
        for v, s in zip(points, scalar.values, strict=True):
            if v is None:
                new.append(None)
                continue
            a, b = (v, s) if scalar_right else (s, v)
            r = _apply(op, a, b, bool_mod)
            if r is not None and op in ast.COMPARISON_OPS and not bool_mod:
                r = v  # a filter keeps the vector's own value
            new.append(r)
        if any(p is not None for p in new):
            out[labels] = new
    return out


def _result_labels(
    left: Labels, right: Labels, op: str, bool_mod: bool, m: ast.VectorMatching | None
) -> Labels:
    if m is not None and m.card in ("group_left", "group_right"):
        if m.include:
            extra = {k: right.get(k, "") for k in m.include}
            return Labels({**dict(left.items_tuple), **extra}.items()).without(
                *[k for k, v in extra.items() if v == ""]
            )
        return left
    # Prometheus' resultMetric: one-to-one matching keeps only the `on` labels (drops the
    # `ignoring` ones) for every operator, filtering comparisons included.
    if m is not None:
        return left.only(*m.labels) if m.on else left.without(*m.labels)
    return left


def _vector_vector(
    op: str, left: Matrix, right: Matrix, bool_mod: bool, m: ast.VectorMatching | None
) -> Matrix:
    swap = m is not None and m.card == "group_right"
    many, one = (right, left) if swap else (left, right)
    nsteps = len(next(iter(left.values()))) if left else 0
    one_by_sig: dict[Labels, list[tuple[Labels, list[float | None]]]] = {}
    for labels, points in one.items():
        one_by_sig.setdefault(_signature(labels, m), []).append((labels, points))
    out: Matrix = {}
    seen_many: dict[tuple[Labels, int], Labels] = {}
    for labels, points in many.items():
        candidates = one_by_sig.get(_signature(labels, m))
        if not candidates:
            continue
        for k in range(nsteps):
            v = points[k]
            if v is None:
                continue
            matches = [(lbl, p[k]) for lbl, p in candidates if p[k] is not None]
            if not matches:
                continue
            if len(matches) > 1:
                raise QueryError(
                    "found duplicate series for the match group on the right hand-side of "
                    "the operation; many-to-many matching not allowed: matching labels must "
                    "be unique on one side"
                )
            other_labels, other = matches[0]
            a, b = (other, v) if swap else (v, other)
            r = _apply(op, a, b, bool_mod)  # type: ignore[arg-type]
            if r is None:
                continue
            if op in ast.COMPARISON_OPS and not bool_mod:
                r = a
            result = _result_labels(labels, other_labels, op, bool_mod, m)
            key = (result, k)
            if (m is None or not m.card) and key in seen_many and seen_many[key] != labels:
                raise QueryError(
                    "multiple matches for labels: many-to-one matching must be explicit "
                    "(group_left/group_right)"
                )
            seen_many[key] = labels
            out.setdefault(result, [None] * nsteps)[k] = r
    return out


def _set_op(op: str, left: Matrix, right: Matrix, m: ast.VectorMatching | None) -> Matrix:
    nsteps = len(next(iter((left or right).values()))) if (left or right) else 0
    right_sigs: list[set[Labels]] = [set() for _ in range(nsteps)]
    for labels, points in right.items():
        sig = _signature(labels, m)
        for k, p in enumerate(points):
            if p is not None:
                right_sigs[k].add(sig)
    out: Matrix = {}
    if op == "and" or op == "unless":
        want = op == "and"
        for labels, points in left.items():
            sig = _signature(labels, m)
            new = [
                p if p is not None and (sig in right_sigs[k]) == want else None
                for k, p in enumerate(points)
            ]
            if any(p is not None for p in new):
                out[labels] = new
        return out
    left_sigs: list[set[Labels]] = [set() for _ in range(nsteps)]
    for labels, points in left.items():
        out[labels] = list(points)
        sig = _signature(labels, m)
        for k, p in enumerate(points):
            if p is not None:
                left_sigs[k].add(sig)
    for labels, points in right.items():
        sig = _signature(labels, m)
        new = [
            p if p is not None and sig not in left_sigs[k] else None for k, p in enumerate(points)
        ]
        if any(p is not None for p in new):
            existing = out.get(labels)
            if existing is None:
                out[labels] = new
            else:
                out[labels] = [
                    a if a is not None else b for a, b in zip(existing, new, strict=True)
                ]
    return out


# ------------------------------------------------------------------------ aggregation


def _group_key(labels: Labels, grouping: ast.Grouping | None) -> Labels:
    if grouping is None:
        return Labels()
    if grouping.without:
        return labels.without(*grouping.labels)
    return labels.only(*grouping.labels)


_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "sum": lambda v: float(sum(v)),
    "avg": lambda v: sum(v) / len(v),
    "min": min,
    "max": max,
    "count": lambda v: float(len(v)),
    "stdvar": lambda v: sum((x - sum(v) / len(v)) ** 2 for x in v) / len(v),
    "stddev": lambda v: math.sqrt(sum((x - sum(v) / len(v)) ** 2 for x in v) / len(v)),
}


def aggregate(
    op: str, m: Matrix, grouping: ast.Grouping | None, param: int | None, nsteps: int
) -> Matrix:
    if op in ("sort", "sort_desc"):
        return m
    if op in ("topk", "bottomk", "approx_topk"):  # approx_topk is exact here
        return _topk("bottomk" if op == "bottomk" else "topk", m, grouping, param or 0, nsteps)
    reduce = _REDUCERS[op]
    groups: dict[Labels, list[list[float]]] = {}
    for labels, points in m.items():
        slots = groups.setdefault(_group_key(labels, grouping), [[] for _ in range(nsteps)])
        for k, p in enumerate(points):
            if p is not None:
                slots[k].append(p)
    out: Matrix = {}
    for key, slots in groups.items():
        values = [reduce(s) if s else None for s in slots]
        if any(v is not None for v in values):
            out[key] = values
    return out


def _topk(op: str, m: Matrix, grouping: ast.Grouping | None, k: int, nsteps: int) -> Matrix:
    out: Matrix = {}
    if k <= 0:
        return out
    groups: dict[Labels, list[Labels]] = {}
    for labels in m:
        groups.setdefault(_group_key(labels, grouping), []).append(labels)
    for members in groups.values():
        for step in range(nsteps):
            present = [(m[lbl][step], lbl) for lbl in members if m[lbl][step] is not None]
            present.sort(key=lambda pv: (pv[0], repr(pv[1])), reverse=op == "topk")
            for value, lbl in present[:k]:
                out.setdefault(lbl, [None] * nsteps)[step] = value
    return out


_GROUP_REF = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _expand(replacement: str, match: Any) -> str:
    def sub(ref: re.Match[str]) -> str:
        name = ref.group(1) or ref.group(2)
        try:
            value = match.group(int(name)) if name.isdigit() else match.group(name)
        except (IndexError, KeyError, re2.error):
            return ""
        return str(value or "")

    return _GROUP_REF.sub(sub, replacement)


def label_replace(m: Matrix, e: ast.LabelReplace) -> Matrix:
    regex = compile_anchored(e.regex)
    out: Matrix = {}
    for labels, points in m.items():
        match = regex.match(labels.get(e.src, "") or "")
        new = labels
        if match is not None:
            new = labels.with_(**{e.dst: _expand(e.replacement, match)})
        existing = out.get(new)
        out[new] = (
            points
            if existing is None
            else [a if a is not None else b for a, b in zip(existing, points, strict=True)]
        )
    return out


def order_instant(
    op_chain: Sequence[str], samples: list[tuple[Labels, float]]
) -> list[tuple[Labels, float]]:
    """Instant-vector order: ``sort``/``sort_desc``/``topk`` by value, else by labels."""
    outer = op_chain[0] if op_chain else ""
    if outer in ("sort", "bottomk"):
        return sorted(samples, key=lambda s: s[1])
    if outer in ("sort_desc", "topk", "approx_topk"):
        return sorted(samples, key=lambda s: s[1], reverse=True)
    return sorted(samples, key=lambda s: s[0].items_tuple)
