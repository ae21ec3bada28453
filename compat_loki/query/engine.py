"""LogQL evaluation over a ``LogReader``: log queries → streams, metric queries → matrix/vector.

The engine sees storage only through ``compat_loki.query.reader`` (DESIGN §1: parser ≠
engine ≠ storage ≠ HTTP). Log queries are read by ``logquery`` (newest lines first, the
store's trigram index for rare ``|= "x"`` needles, ``limit`` over all streams); range
aggregations by ``rangeagg`` (counts pushed to the store when it can); vector operators
and aggregations by ``vectorops``. This module dispatches and shapes typed results.

Every loop checks a deadline, so a pathological query ends with a 503 instead of holding
a worker forever; RE2 keeps every regex linear.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from compat_loki.query import ast
from compat_loki.query.logquery import run_log_query
from compat_loki.query.rangeagg import Deadline, evaluate_range
from compat_loki.query.reader import Direction, LogReader
from compat_loki.query.results import (
    MatrixResult,
    Result,
    ScalarResult,
    Stats,
    StreamsResult,
    VectorResult,
)
from compat_loki.query.vectorops import (
    Matrix,
    Scalar,
    Value,
    aggregate,
    binary,
    label_replace,
    order_instant,
)
from core.errors import QueryError
from core.labels import Labels

MAX_POINTS = 11_000
# A range or offset longer than this cannot be meant, and keeps ns arithmetic in int64.
MAX_RANGE_NS = 100 * 365 * 86_400 * 10**9
INSTANT_LOGS = (
    "log queries are not supported as an instant query type, please change your query to a "
    "range query type"
)


@dataclass(frozen=True)
class QueryParams:
    start_ns: int
    end_ns: int
    step_ns: int
    direction: Direction = "backward"
    limit: int = 100
    categorize: bool = False


class Engine:
    def __init__(
        self, reader: LogReader, *, timeout_s: float = 30.0, max_series: int = 500
    ) -> None:
        self.reader = reader
        self.timeout_s = timeout_s
        self.max_series = max_series

    # ------------------------------------------------------------------ entry points
    def range_query(self, expr: ast.Expr, p: QueryParams) -> Result:
        started = time.perf_counter()
        deadline = Deadline(self.timeout_s)
        stats = Stats()
        if isinstance(expr, ast.LogQuery):
            result: Result = self._logs(expr, p, stats, deadline)
        else:
            if p.step_ns <= 0:
                raise QueryError(
                    "zero or negative query resolution step widths are not accepted. "
                    "Try a positive integer"
                )
            if p.end_ns < p.start_ns:
                raise QueryError("end timestamp must not be before start time")
            if (p.end_ns - p.start_ns) // p.step_ns + 1 > MAX_POINTS:
                raise QueryError(
                    "exceeded maximum resolution of 11,000 points per timeseries. "
                    "Try decreasing the query resolution (?step=XX)"
                )
            _check_ranges(expr)
            steps = list(range(p.start_ns, p.end_ns + 1, p.step_ns))
            value = self._eval(expr, steps, p.step_ns, stats, deadline)
            result = self._matrix(value, steps, stats)
        stats.exec_seconds = time.perf_counter() - started
        return result

    def instant_query(self, expr: ast.Expr, t_ns: int) -> Result:
        started = time.perf_counter()
        if isinstance(expr, ast.LogQuery):
            raise QueryError(INSTANT_LOGS)
        _check_ranges(expr)
        stats = Stats()
        value = self._eval(expr, [t_ns], 0, stats, Deadline(self.timeout_s))
        result: Result
        if isinstance(value, Scalar):
            result = ScalarResult(t_ns, value.values[0], stats)
        else:
            self._check_series(len(value))
            samples = [(labels, pts[0]) for labels, pts in value.items() if pts[0] is not None]
            ordered = order_instant(_outer_ops(expr), samples)
            result = VectorResult([(lbl, t_ns, v) for lbl, v in ordered], stats)
        stats.exec_seconds = time.perf_counter() - started
        return result

    # ------------------------------------------------------------------ log queries
    def _logs(
        self, q: ast.LogQuery, p: QueryParams, stats: Stats, deadline: Deadline
    ) -> StreamsResult:
        return run_log_query(
            self.reader,
            q,
            p.start_ns,
            p.end_ns,
            p.direction,
            p.limit,
            p.categorize,
            stats,
            deadline,
        )

    # ------------------------------------------------------------------ metric queries
    def _eval(
        self, e: ast.Expr, steps: list[int], step_ns: int, stats: Stats, deadline: Deadline
    ) -> Value:
        if isinstance(e, ast.NumberLiteral):
            return Scalar([e.value] * len(steps))
        if isinstance(e, ast.VectorExpr):
            return {Labels(): [e.value] * len(steps)}
        if isinstance(e, ast.RangeAggregation):
            return evaluate_range(self.reader, e, steps, step_ns, stats, deadline)
        if isinstance(e, ast.VectorAggregation):
            inner = self._eval(e.expr, steps, step_ns, stats, deadline)
            if isinstance(inner, Scalar):
                raise QueryError(f"{e.op}: expected a vector, got a scalar")
            return aggregate(e.op, inner, e.grouping, e.param, len(steps))
        if isinstance(e, ast.BinaryExpr):
            left = self._eval(e.left, steps, step_ns, stats, deadline)
            right = self._eval(e.right, steps, step_ns, stats, deadline)
            return binary(e.op, left, right, e.bool_modifier, e.matching)
        if isinstance(e, ast.LabelReplace):
            inner = self._eval(e.expr, steps, step_ns, stats, deadline)
            if isinstance(inner, Scalar):
                raise QueryError("label_replace: expected a vector, got a scalar")
            return label_replace(inner, e)
        raise QueryError(
            "a log query cannot be used inside a metric query; wrap it in a range "
            "aggregation such as count_over_time({…}[1m])"
        )

    def _matrix(self, value: Value, steps: Sequence[int], stats: Stats) -> MatrixResult:
        m: Matrix = {Labels(): list(value.values)} if isinstance(value, Scalar) else value
        self._check_series(len(m))
        series = []
        for labels, points in sorted(m.items(), key=lambda kv: kv[0].items_tuple):
            pts = [(t, v) for t, v in zip(steps, points, strict=True) if v is not None]
            if pts:
                series.append((labels, pts))
        return MatrixResult(series, stats)

    def _check_series(self, n: int) -> None:
        if n > self.max_series:
            raise QueryError(
                f"maximum number of series ({self.max_series}) reached for a single query; "
                "consider reducing query cardinality by adding more specific stream selectors, "
                "reducing the time range, or aggregating results with a vector aggregation"
            )


def _check_ranges(e: ast.Expr) -> None:
    if isinstance(e, ast.RangeAggregation):
        if e.range.range_ns + e.range.offset_ns > MAX_RANGE_NS:
            raise QueryError("range plus offset may not exceed 100 years")
    elif isinstance(e, ast.VectorAggregation | ast.LabelReplace):
        _check_ranges(e.expr)
    elif isinstance(e, ast.BinaryExpr):
        _check_ranges(e.left)
        _check_ranges(e.right)


def _outer_ops(e: ast.Expr) -> list[str]:
    return [e.op] if isinstance(e, ast.VectorAggregation) else []
