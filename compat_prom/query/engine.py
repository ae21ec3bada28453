"""PromQL evaluation with Prometheus 3.x semantics over a ``SampleReader``.

How it works (and why): every node is evaluated once for *all* steps of the query
(``ts``: the evaluation time of each step, in ms). A selector fetches its samples once for
the whole range and then walks the steps in memory with ``bisect`` — the same trick
Prometheus' ``rangeEval`` uses, and the only way a pure-Python engine stays fast. ``@``
and ``offset`` only change each step's effective time; subqueries evaluate their inner
expression on the union of their aligned inner grids.

Semantics kept from Prometheus 3.x: left-open range and lookback windows ``(t - r, t]``,
5-minute lookback, staleness markers end a series, delayed ``__name__`` removal (names are
dropped at the very end, so ``sum by (__name__) (rate(...))`` keeps them), subquery steps
aligned to absolute multiples of the step, default subquery step 1 minute.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import is_not
from typing import cast

from compat_prom.query import aggregate, binops, functions, rangefns, summedrates
from compat_prom.query.ast import (
    MATRIX,
    SCALAR,
    STRING,
    Aggregate,
    At,
    Binary,
    Call,
    MatrixSel,
    Node,
    NumberLit,
    StringLit,
    Subquery,
    Unary,
    VectorSel,
)
from compat_prom.query.reader import SampleReader, SeriesSamples
from compat_prom.query.values import (
    Annotations,
    MatrixV,
    RangeSeries,
    ScalarV,
    Series,
    StringV,
    Value,
    VectorV,
    has_nan,
    is_stale,
    leading_nones,
    none_free,
)
from core.errors import QueryError, Unavailable, Unprocessable
from core.labels import Labels

LOOKBACK_MS = 300_000
DEFAULT_SUBQUERY_STEP_MS = 60_000
DEFAULT_MAX_SAMPLES = 20_000_000


@dataclass
class Limits:
    """Per-query protection: the sample budget (422) and the wall-clock limit (503)."""

    max_samples: int = DEFAULT_MAX_SAMPLES
    timeout_s: float = 120.0
    lookback_ms: int = LOOKBACK_MS
    subquery_step_ms: int = DEFAULT_SUBQUERY_STEP_MS


@dataclass
class Result:
    """A query's answer: ``kind`` is Prometheus' resultType."""

    kind: str  # scalar | vector | matrix | string
    # scalar: (t, v); vector: [(labels, t, v)]; matrix: [(labels, times, values)], the
    # times and values as two lists (a 24 h panel has ~100,000 points: no pair objects)
    scalar: tuple[int, float] | None = None
    vector: list[tuple[Labels, int, float]] = field(default_factory=list)
    matrix: list[tuple[Labels, list[int], list[float]]] = field(default_factory=list)
    string: tuple[int, str] | None = None
    annotations: Annotations = field(default_factory=Annotations)
    samples: int = 0


class Evaluator:
    def __init__(
        self,
        reader: SampleReader,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        limits: Limits | None = None,
    ) -> None:
        self.reader = reader
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.step_ms = step_ms
        self.limits = limits or Limits()
        self.deadline = time.monotonic() + self.limits.timeout_s
        self.samples = 0
        self.notes = Annotations()
        self.is_range = False
        self._fetched: dict[object, list[SeriesSamples]] = {}
        # Selectors over series scraped at the same instants (a ratio's two sides) share
        # their windows, and so the rate terms of those windows (keyed by the list's id;
        # the entry holds the list, so the id cannot be reused while it is there).
        self._windows: dict[tuple[tuple[int, ...], tuple[int, ...], int], Windows] = {}
        self._geometry: dict[tuple[int, bool], tuple[Windows, rangefns.Geometry]] = {}

    # -- budget -----------------------------------------------------------------------

    def charge(self, n: int) -> None:
        self.samples += n
        if self.samples > self.limits.max_samples:
            raise Unprocessable(
                "query processing would load too many samples into memory in query execution"
                f" (limit {self.limits.max_samples}); narrow the selector or the time range"
            )
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise Unavailable(
                f"query timed out in expression evaluation (limit {self.limits.timeout_s:g}s)"
            )

    # -- dispatch ---------------------------------------------------------------------

    def eval(self, node: Node, ts: list[int]) -> Value:
        if isinstance(node, NumberLit):
            return ScalarV([node.val] * len(ts))
        if isinstance(node, StringLit):
            return StringV(node.val)
        if isinstance(node, VectorSel):
            return self.vector_selector(node, ts)
        if isinstance(node, MatrixSel):
            return self.matrix_selector(node, ts)
        if isinstance(node, Subquery):
            return self.subquery(node, ts)
        if isinstance(node, Unary):
            return negate(self.eval(node.expr, ts))
        if isinstance(node, Binary):
            return binops.evaluate(self, node, ts)
        if isinstance(node, Aggregate):
            return aggregate.evaluate(self, node, ts)
        if isinstance(node, Call):
            return functions.call(self, node, ts)
        raise QueryError(f"unsupported expression {type(node).__name__}")

    def eval_aggregand(self, node: Aggregate, ts: list[int]) -> Value:
        """The expression an aggregation folds; ``sum(rate(...))`` takes a shortcut."""
        if summedrates.applies(node):
            return summedrates.summed_rates(self, node, ts)
        return self.eval(node.expr, ts)

    def scalar_arg(self, node: Node, ts: list[int]) -> list[float]:
        value = self.eval(node, ts)
        if not isinstance(value, ScalarV):
            raise QueryError("expected a scalar argument")
        return value.values

    def vector_arg(self, node: Node, ts: list[int]) -> list[Series]:
        value = self.eval(node, ts)
        if not isinstance(value, VectorV):
            raise QueryError("expected an instant vector argument")
        return value.series

    def query_param(self, name: str) -> int:
        """``start()``, ``end()``, ``step()``, ``range()`` of the query, in ms."""
        if name == "start":
            return self.start_ms
        if name == "end":
            return self.end_ms
        if name == "step":
            return self.step_ms
        return self.end_ms - self.start_ms

    # -- time modifiers ---------------------------------------------------------------

    def at_time(self, at: At | None, t: int) -> int:
        if at is None:
            return t
        if at.kind == "start":
            return self.start_ms
        if at.kind == "end":
            return self.end_ms
        return at.ms

    def effective(self, at: At | None, offset_ms: int, ts: list[int]) -> list[int]:
        return [self.at_time(at, t) - offset_ms for t in ts]

    # -- selectors --------------------------------------------------------------------

    def fetch(
        self, sel: VectorSel, start_ms: int, end_ms: int, resolution_ms: int = 0
    ) -> list[SeriesSamples]:
        """Samples of every series matching the selector (``or`` groups unioned).

        Cached per query: dashboards repeat selectors (``a / a``, ``_sum / _count`` pairs,
        subqueries re-evaluating the same range), and the store read is the costly part.
        """
        self.check_time()
        key = (tuple(tuple(g) for g in sel.matcher_groups()), start_ms, end_ms, resolution_ms)
        cached = self._fetched.get(key)
        if cached is not None:
            return cached
        merged: dict[Labels, SeriesSamples] = {}
        for group in sel.matcher_groups():
            for s in self.reader.select(group, start_ms, end_ms, resolution_ms=resolution_ms):
                merged.setdefault(s.labels, s)
        out = list(merged.values())
        self.charge(sum(len(s.timestamps) for s in out))
        self._fetched[key] = out
        return out

    def vector_selector(self, sel: VectorSel, ts: list[int], *, want_ts: bool = False) -> VectorV:
        eff = self.effective(sel.at, sel.offset_ms, ts)
        lookback = self.limits.lookback_ms
        lo_t, hi_t = min(eff), max(eff)
        res = self.step_ms if self.is_range and sel.at is None else 0
        out: list[Series] = []
        n = len(eff)
        for s in self.fetch(sel, lo_t - lookback + 1, hi_t, res):
            sts, svs = s.timestamps, s.values
            values: list[float | None] = []
            append = values.append
            any_value = False
            for t, end in zip(eff, map(bisect_right, repeat(sts, n), eff), strict=True):
                i = end - 1
                if i >= 0 and sts[i] > t - lookback:
                    v = svs[i]
                    if v != v and is_stale(v):
                        append(None)
                        continue
                    append(sts[i] / 1000 if want_ts else v)
                    any_value = True
                else:
                    append(None)
            if any_value:
                self.charge(n)  # the step slots held in memory
                out.append(Series(s.labels, values))
        return VectorV(out)

    def matrix_selector(self, node: MatrixSel, ts: list[int]) -> MatrixV:
        sel = node.vs
        eff = self.effective(sel.at, sel.offset_ms, ts)
        rng = node.range_ms
        out: list[RangeSeries] = []
        # A window needs a few points; coarser data than range/4 would starve it.
        res = min(self.step_ms, rng // 4) if self.is_range and sel.at is None else 0
        # Series scraped at the same instants get the same windows (one shared list: the
        # rate functions also share their per-window terms through it).
        prev: tuple[Sequence[int], Windows] | None = None
        at = tuple(eff)
        for s in self.fetch(sel, min(eff) - rng + 1, max(eff), res):
            sts, svs = s.timestamps, s.values
            if has_nan(svs):
                pairs = [(t, v) for t, v in zip(sts, svs, strict=True) if not is_stale(v)]
                sts = [p[0] for p in pairs]
                svs = [p[1] for p in pairs]
            if prev is not None and prev[0] == sts:
                windows = prev[1]
            else:
                key = (tuple(sts), at, rng)
                windows = self._windows.get(key) or self._windows.setdefault(
                    key, step_windows(sts, eff, rng)
                )
                prev = (sts, windows)
            if any(hi > lo for lo, hi in windows):
                out.append(RangeSeries(s.labels, sts, svs, windows))
        return MatrixV(out, eff, rng)

    def subquery(self, node: Subquery, ts: list[int]) -> MatrixV:
        step = node.step_ms or self.limits.subquery_step_ms
        if step <= 0:
            raise QueryError("subquery step must be positive")
        eff = self.effective(node.at, node.offset_ms, ts)
        rng = node.range_ms
        grid: set[int] = set()
        for t in set(eff):
            first = (t - rng) // step * step
            if first <= t - rng:
                first += step
            n = (t - first) // step + 1 if t >= first else 0
            self.charge(n)  # before building the grid: `x[30d:1ms]` must not exhaust memory
            grid.update(range(first, first + n * step, step))
        inner_ts = sorted(grid)
        if not inner_ts:
            return MatrixV([], eff, rng)
        saved = self.is_range
        self.is_range = False
        inner = self.eval(node.expr, inner_ts)
        self.is_range = saved
        if isinstance(inner, ScalarV):
            inner = VectorV([Series(Labels(), list(inner.values))])
        if not isinstance(inner, VectorV):
            raise QueryError("subquery is only allowed on instant vector or scalar expressions")
        out: list[RangeSeries] = []
        for s in inner.series:
            sts = [t for t, v in zip(inner_ts, s.values, strict=True) if v is not None]
            svs = [v for v in s.values if v is not None]
            windows = step_windows(sts, eff, rng)
            if any(hi > lo for lo, hi in windows):
                self.charge(len(sts))
                out.append(RangeSeries(s.labels, sts, svs, windows, s.drop_name))
        return MatrixV(out, eff, rng)

    def geometry(
        self, rs: RangeSeries, times: list[int], rng: int, rate: bool
    ) -> rangefns.Geometry:
        """``window_geometry`` of ``rs``'s windows, once per windows list and kind."""
        key = (id(rs.windows), rate)
        found = self._geometry.get(key)
        if found is None:
            geo = rangefns.window_geometry(rs.ts, rs.windows, times, rng, rate=rate)
            found = self._geometry[key] = (rs.windows, geo)
        return found[1]

    # -- entry points -----------------------------------------------------------------

    def instant(self, node: Node, t: int) -> Result:
        value = self.eval(node, [t])
        res = Result(kind="vector", annotations=self.notes)
        if isinstance(value, ScalarV):
            res.kind, res.scalar = "scalar", (t, value.values[0])
        elif isinstance(value, StringV):
            res.kind, res.string = "string", (t, value.value)
        elif isinstance(value, MatrixV):
            res.kind = "matrix"
            for rs in value.series:
                lo, hi = rs.windows[0]
                labels = finish_labels(rs.labels, rs.drop_name)
                res.matrix.append((labels, list(rs.ts[lo:hi]), list(rs.vs[lo:hi])))
            check_unique([m[0] for m in res.matrix])
            res.matrix.sort(key=lambda m: m[0].items_tuple)
        else:
            for s in value.series:
                v = s.values[0]
                if v is not None:
                    res.vector.append((finish_labels(s.labels, s.drop_name), t, v))
            check_unique([v[0] for v in res.vector])
        res.samples = self.samples
        return res

    def range(self, node: Node) -> Result:
        if node.type in (MATRIX, STRING):
            kind = "range vector" if node.type == MATRIX else "string"
            raise QueryError(
                f'invalid expression type "{kind}" for range query, '
                "must be Scalar or instant Vector"
            )
        self.is_range = True
        ts = list(range(self.start_ms, self.end_ms + 1, self.step_ms))
        value = self.eval(node, ts)
        res = Result(kind="matrix", annotations=self.notes)
        if isinstance(value, ScalarV):
            series = [Series(Labels(), list(value.values))]
        elif isinstance(value, VectorV):
            series = value.series
        else:  # pragma: no cover - excluded by the type check above
            raise QueryError("unexpected result type")
        merged: dict[Labels, tuple[list[int], list[float]]] = {}
        tails: dict[int, list[int]] = {0: ts}  # the steps from the k-th on, shared
        for s in series:
            # The steps with a value. Usually a series has one from some step on (its first
            # windows were empty): a slice of both, the step list shared. Else picked in C.
            stamps: list[int]
            values: list[float]
            missing = leading_nones(s.values)
            if missing == len(s.values):
                continue
            rest = s.values[missing:] if missing else s.values
            if none_free(rest):
                stamps = tails.get(missing) or tails.setdefault(missing, ts[missing:])
                values = cast(list[float], rest)
            else:
                keep = list(map(is_not, s.values, repeat(None)))
                stamps = list(compress(ts, keep))
                values = cast(list[float], list(compress(s.values, keep)))
            labels = finish_labels(s.labels, s.drop_name)
            if labels in merged:
                before = dict(zip(*merged[labels], strict=True))
                if any(t in before for t in stamps):
                    raise Unprocessable("vector cannot contain metrics with the same labelset")
                before.update(zip(stamps, values, strict=True))
                order = sorted(before)
                merged[labels] = (order, [before[t] for t in order])
            else:
                merged[labels] = (stamps, values)
        res.matrix = [(lbl, *pair) for lbl, pair in sorted(merged.items(), key=_label_key)]
        res.samples = self.samples
        return res


Windows = list[tuple[int, int]]  # per step, [lo, hi) into a series' samples


def step_windows(ts: Sequence[int], times: list[int], rng: int) -> Windows:
    """Each step's ``(t - rng, t]`` as index bounds ``[lo, hi)`` into ``ts``.

    ``map(bisect_right, ...)`` keeps the per-step loop in C; when the range is a multiple of
    the (even) step, the window starts are the ends of earlier steps, so half the searches
    are reused.
    """
    n = len(times)
    if n > 2 and rng > 0:
        step = times[1] - times[0]
        if step > 0 and rng % step == 0 and times[-1] - times[0] == step * (n - 1):
            k = rng // step
            grid = range(times[0] - rng, times[-1] + 1, step)
            ends = list(map(bisect_right, repeat(ts, len(grid)), grid))
            return list(zip(ends[:n], ends[k : k + n], strict=True))
    his = list(map(bisect_right, repeat(ts, n), times))
    los = list(map(bisect_right, repeat(ts, n), [t - rng for t in times]))
    return list(zip(los, his, strict=True))


def _label_key(item: tuple[Labels, object]) -> tuple[tuple[str, str], ...]:
    return item[0].items_tuple


def finish_labels(labels: Labels, drop_name: bool) -> Labels:
    return labels.without("__name__") if drop_name else labels


def check_unique(labels: Sequence[Labels]) -> None:
    if len(set(labels)) != len(labels):
        raise Unprocessable("vector cannot contain metrics with the same labelset")


def negate(value: Value) -> Value:
    if isinstance(value, ScalarV):
        return ScalarV([-v for v in value.values])
    if isinstance(value, VectorV):
        return VectorV(
            [
                Series(s.labels, [None if v is None else -v for v in s.values], True)
                for s in value.series
            ]
        )
    raise QueryError("unary minus is only allowed on scalars and instant vectors")


def run_instant(
    reader: SampleReader, expr: Node, t_ms: int, limits: Limits | None = None
) -> Result:
    return Evaluator(reader, t_ms, t_ms, 0, limits).instant(expr, t_ms)


def run_range(
    reader: SampleReader,
    expr: Node,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    limits: Limits | None = None,
) -> Result:
    if step_ms <= 0:
        raise QueryError("zero or negative query resolution step widths are not accepted")
    if end_ms < start_ms:
        raise QueryError("end timestamp must not be before start time")
    return Evaluator(reader, start_ms, end_ms, step_ms, limits).range(expr)


__all__ = ["SCALAR", "Evaluator", "Limits", "Result", "math", "run_instant", "run_range"]
