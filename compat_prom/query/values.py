"""The values the evaluator passes between nodes, one slot per evaluation step.

Why per-step arrays: a range query is evaluated once over all its steps (Prometheus'
``rangeEval``), so a selector's samples are fetched once and every node works on lists
indexed by step. ``None`` means "no sample at this step". An instant query is the same with
one step.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from compat_prom.query.reader import STALE_NAN_BITS
from core.labels import Labels

Num = float | None


@dataclass
class Series:
    """An instant-vector series over the steps; ``drop_name`` delays ``__name__`` removal."""

    labels: Labels
    values: list[Num]
    drop_name: bool = False


@dataclass
class RangeSeries:
    """A range-vector series: all its samples plus each step's window ``[lo, hi)``."""

    labels: Labels
    ts: Sequence[int]
    vs: Sequence[float]
    windows: list[tuple[int, int]]
    drop_name: bool = False


@dataclass
class ScalarV:
    values: list[float]


@dataclass
class VectorV:
    series: list[Series]


@dataclass
class MatrixV:
    series: list[RangeSeries]
    # Per step: the evaluation time and the window's range (both ms), for extrapolation.
    times: list[int]
    range_ms: int


@dataclass
class StringV:
    value: str


Value = ScalarV | VectorV | MatrixV | StringV


@dataclass
class Annotations:
    """Prometheus' warnings and infos (``PromQL warning: …``), de-duplicated, in order."""

    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)

    def warn(self, text: str) -> None:
        msg = f"PromQL warning: {text}"
        if msg not in self.warnings:
            self.warnings.append(msg)

    def info(self, text: str) -> None:
        msg = f"PromQL info: {text}"
        if msg not in self.infos:
            self.infos.append(msg)


def any_present(values: list[Num]) -> bool:
    """Whether a series has a value at some step: its last or first step usually does;
    else ``list.count`` runs in C (an identity test per item, where ``any(v is not None
    for v in ...)`` ran a generator step each)."""
    if not values:
        return False
    if values[-1] is not None or values[0] is not None:
        return True
    return values.count(None) != len(values)


def leading_nones(values: Sequence[Num]) -> int:
    """How many steps come before a series' first value (all of them when it has none)."""
    if not values or values[0] is not None:
        return 0
    return next((i for i, v in enumerate(values) if v is not None), len(values))


def none_free(values: Sequence[Num]) -> bool:
    """Whether no value is None: ``sum`` runs in C over floats and stops at the first None
    with a TypeError, where ``list.count(None)`` compares every float with None (~10x
    slower: each comparison falls back through both types' ``__eq__``)."""
    try:
        sum(cast(Sequence[float], values))
    except TypeError:
        return False
    return True


def has_nan(values: Sequence[float]) -> bool:
    """Whether a NaN is among ``values``: a NaN makes the C-level ``sum`` NaN, so the usual
    NaN-free series costs one sum; only a NaN sum (or +Inf with -Inf) looks item by item."""
    total = sum(values)
    return total != total and any(map(math.isnan, values))


def ascending(values: Sequence[float]) -> bool:
    """Whether NaN-free ``values`` never decrease (a counter without a reset): sorting an
    ascending list is one C pass, ~2x cheaper than comparing neighbours with ``map``."""
    return sorted(values) == (values if isinstance(values, list) else list(values))


def is_stale(v: float) -> bool:
    return v != v and struct.unpack("<Q", struct.pack("<d", v))[0] == STALE_NAN_BITS


STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """One step of Prometheus' Kahan-Babuška summation (same rounding as upstream)."""
    t = total + inc
    if math.isinf(t):
        c = 0.0
    elif abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def kahan_sum(values: Sequence[float]) -> float:
    """Sum as Prometheus does; ``math.fsum`` (exact, in C) when no infinity is involved,
    which agrees with upstream's Kahan-Babuška result to the last bits or better."""
    try:
        result = math.fsum(values)
    except (OverflowError, ValueError):
        pass
    else:
        if math.isfinite(result):
            return result
    total, c = 0.0, 0.0
    for v in values:
        total, c = kahan_inc(v, total, c)
    return total + c if not math.isinf(total) else total


def mean(values: Sequence[float]) -> float:
    """Prometheus' avg: Kahan sum, switching to an incremental mean if the sum overflows."""
    total, c, avg, count, incremental = 0.0, 0.0, 0.0, 0.0, False
    for v in values:
        count += 1
        if not incremental:
            new_total, new_c = kahan_inc(v, total, c)
            if count == 1 or not math.isinf(new_total):
                total, c = new_total, new_c
                continue
            incremental = True
            avg = total / (count - 1)
            c /= count - 1
        q = (count - 1) / count
        avg, c = kahan_inc(v / count, q * avg, q * c)
    if incremental:
        return avg + c
    return total / count + c / count


def format_value(v: float) -> str:
    """Sample values as Prometheus prints them (Go's ``FormatFloat(f, 'f', -1, 64)``)."""
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0" if math.copysign(1.0, v) > 0 else "-0"
    text = repr(v)
    if "e" in text:
        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text
