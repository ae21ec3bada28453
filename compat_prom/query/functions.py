"""PromQL functions for float samples (the Prometheus 3.x list), dispatched by name.

Native-histogram functions answer a clear 422 instead of a wrong number (we store floats
only). Which functions keep ``__name__`` follows Prometheus: only the ``sort*`` family,
``label_*``, ``last_over_time`` and ``first_over_time``; all others drop it (delayed).
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from compat_prom.query import histogram, labelfns, rangefns
from compat_prom.query.ast import Call, MatrixSel, Subquery, VectorSel
from compat_prom.query.values import MatrixV, Num, ScalarV, Series, Value, VectorV, any_present
from core.errors import QueryError, Unprocessable
from core.labels import Labels

if TYPE_CHECKING:
    from compat_prom.query.engine import Evaluator

NATIVE_HISTOGRAM_FUNCS = {
    "histogram_count",
    "histogram_sum",
    "histogram_avg",
    "histogram_stddev",
    "histogram_stdvar",
}
UNSUPPORTED = {"info": "info() is not supported (experimental in Prometheus)"}


def _sgn(x: float) -> float:
    if x != x:
        return x
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


def _safe(fn: Callable[[float], float]) -> Callable[[float], float]:
    def run(x: float) -> float:
        try:
            return fn(x)
        except (ValueError, OverflowError):
            if fn is math.exp:
                return math.inf if x > 0 else 0.0
            if fn in (math.log, math.log2, math.log10):
                if x == 0:
                    return -math.inf
                return math.nan
            if fn in (math.sinh, math.cosh):
                return math.copysign(math.inf, x) if fn is math.sinh else math.inf
            if fn is math.atanh and abs(x) == 1:
                return math.copysign(math.inf, x)
            return math.nan

    return run


MATH: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "ceil": lambda x: float(math.ceil(x)) if math.isfinite(x) else x,
    "floor": lambda x: float(math.floor(x)) if math.isfinite(x) else x,
    "exp": _safe(math.exp),
    "ln": _safe(math.log),
    "log2": _safe(math.log2),
    "log10": _safe(math.log10),
    "sqrt": _safe(math.sqrt),
    "sgn": _sgn,
    "sin": _safe(math.sin),
    "cos": _safe(math.cos),
    "tan": _safe(math.tan),
    "asin": _safe(math.asin),
    "acos": _safe(math.acos),
    "atan": _safe(math.atan),
    "sinh": _safe(math.sinh),
    "cosh": _safe(math.cosh),
    "tanh": _safe(math.tanh),
    "asinh": _safe(math.asinh),
    "acosh": _safe(math.acosh),
    "atanh": _safe(math.atanh),
    "deg": lambda x: x * 180 / math.pi,
    "rad": lambda x: x * math.pi / 180,
}


def _date(part: str) -> Callable[[float], float]:
    def run(x: float) -> float:
        if not math.isfinite(x):
            return math.nan
        d = dt.datetime.fromtimestamp(math.floor(x), tz=dt.UTC)
        if part == "minute":
            return float(d.minute)
        if part == "hour":
            return float(d.hour)
        if part == "day_of_week":
            return float((d.weekday() + 1) % 7)
        if part == "day_of_month":
            return float(d.day)
        if part == "day_of_year":
            return float(d.timetuple().tm_yday)
        if part == "days_in_month":
            return float(calendar.monthrange(d.year, d.month)[1])
        if part == "month":
            return float(d.month)
        return float(d.year)

    return run


DATE_PARTS = (
    "minute",
    "hour",
    "day_of_week",
    "day_of_month",
    "day_of_year",
    "days_in_month",
    "month",
    "year",
)


def _map(series: list[Series], fn: Callable[[float], float], drop: bool = True) -> VectorV:
    out = []
    for s in series:
        out.append(
            Series(s.labels, [None if v is None else fn(v) for v in s.values], s.drop_name or drop)
        )
    return VectorV(out)


def _map_step(series: list[Series], fn: Callable[[float, int], float]) -> VectorV:
    return VectorV(
        [
            Series(
                s.labels, [None if v is None else fn(v, i) for i, v in enumerate(s.values)], True
            )
            for s in series
        ]
    )


def _range_call(
    ev: Evaluator,
    m: MatrixV,
    fn: rangefns.RangeFn,
    drop: bool = True,
    times: list[int] | None = None,
) -> VectorV:
    out = []
    rng = m.range_ms
    times = times if times is not None else m.times
    for rs in m.series:
        ts, vs = rs.ts, rs.vs
        values: list[Num] = [
            fn(ts, vs, lo, hi, t, rng) if hi > lo else None
            for (lo, hi), t in zip(rs.windows, times, strict=True)
        ]
        if any_present(values):
            ev.charge(len(values))
            out.append(Series(rs.labels, values, rs.drop_name or drop))
    ev.check_time()
    return VectorV(out)


def _rate_call(ev: Evaluator, node: Call, m: MatrixV, *, counter: bool, rate: bool) -> VectorV:
    return VectorV(rate_series(ev, m, counter=counter, rate=rate))


def rate_series(ev: Evaluator, m: MatrixV, *, counter: bool, rate: bool) -> list[Series]:
    """``rate``/``increase`` (``counter``) or ``delta`` of every series of ``m``."""
    out = []
    times, rng = m.times, m.range_ms
    # Series read at the same instants share their windows list (matrix_selector), and so
    # the extrapolation terms that depend only on the times: computed once for all of them.
    for rs in m.series:
        ts, vs = rs.ts, rs.vs
        values: list[Num]
        if counter and len(rs.windows) > 1:
            values = rangefns.counter_steps(vs, ev.geometry(rs, times, rng, rate))
        else:
            values = rangefns.extrapolated_steps(
                ts, vs, rs.windows, times, rng, counter=counter, rate=rate, resets=None
            )
        if any_present(values):
            ev.charge(len(values))
            out.append(Series(rs.labels, values, True))
            if counter:
                counter_note(ev, rs.labels)
    ev.check_time()
    return out


def counter_note(ev: Evaluator, labels: Labels) -> None:
    """Prometheus' info annotation for a counter function over a name that is no counter's."""
    name = labels.get("__name__")
    if name and not name.endswith(("_total", "_sum", "_count", "_bucket")):
        ev.notes.info(
            "metric might not be a counter, name does not end in "
            f'_total/_sum/_count/_bucket: "{name}"'
        )


def _matrix(ev: Evaluator, node: Call, ts: list[int], i: int = 0) -> MatrixV:
    value = ev.eval(node.args[i], ts)
    if not isinstance(value, MatrixV):
        raise QueryError(f"expected range vector argument in call to {node.name}")
    return value


def _absent_labels(arg: object) -> Labels:
    sel = arg.vs if isinstance(arg, MatrixSel) else arg
    if not isinstance(sel, VectorSel):
        return Labels()
    found: dict[str, str] = {}
    dropped: set[str] = set()
    for m in sel.matchers:
        if m.name == "__name__":
            continue
        if m.op == "=" and m.name not in found and m.name not in dropped:
            found[m.name] = m.value
        else:
            found.pop(m.name, None)
            dropped.add(m.name)
    return Labels(found)


def _sort(
    series: list[Series], key: Callable[[Series], tuple[int, float]], reverse: bool
) -> VectorV:
    present = [s for s in series if s.values[0] is not None]
    return VectorV(sorted(present, key=key, reverse=reverse))


def _nan_last(desc: bool) -> Callable[[Series], tuple[int, float]]:
    def key(s: Series) -> tuple[int, float]:
        v = s.values[0]
        assert v is not None
        if v != v:
            return (1, 0.0) if not desc else (0, 0.0)
        return (0, v) if not desc else (1, v)

    return key


def call(ev: Evaluator, node: Call, ts: list[int]) -> Value:
    name = node.name
    args = node.args
    n = len(ts)
    if name in NATIVE_HISTOGRAM_FUNCS:
        raise Unprocessable(f"{name}() needs native histograms, which this server does not store")
    if name in UNSUPPORTED:
        raise Unprocessable(UNSUPPORTED[name])
    if name in MATH:
        return _map(ev.vector_arg(args[0], ts), MATH[name])
    if name in ("rate", "increase"):
        return _rate_call(ev, node, _matrix(ev, node, ts), counter=True, rate=name == "rate")
    if name == "delta":
        return _rate_call(ev, node, _matrix(ev, node, ts), counter=False, rate=False)
    if name in ("irate", "idelta"):
        is_rate = name == "irate"
        return _range_call(
            ev,
            _matrix(ev, node, ts),
            lambda t_, v_, lo, hi, t, r: rangefns.irate_like(t_, v_, lo, hi, rate=is_rate),
        )
    if name == "deriv":
        return _range_call(ev, _matrix(ev, node, ts), rangefns.deriv)
    if name == "predict_linear":
        m = _matrix(ev, node, ts)
        horizon = ev.scalar_arg(args[1], ts)
        # The intercept is at the evaluation time, even under ``@`` (upstream's enh.Ts).
        return _range_call(ev, m, rangefns.predict_linear(horizon[0]), times=ts)
    if name in ("double_exponential_smoothing", "holt_winters"):
        m = _matrix(ev, node, ts)
        sf, tf = ev.scalar_arg(args[1], ts)[0], ev.scalar_arg(args[2], ts)[0]
        if not 0 < sf < 1:
            raise QueryError(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:g}")
        if not 0 < tf < 1:
            raise QueryError(f"invalid trend factor. Expected: 0 < tf < 1, got: {tf:g}")
        return _range_call(ev, m, rangefns.double_exponential_smoothing(sf, tf))
    if name == "resets":
        return _range_call(ev, _matrix(ev, node, ts), rangefns.resets)
    if name == "changes":
        return _range_call(ev, _matrix(ev, node, ts), rangefns.changes)
    if name == "quantile_over_time":
        phis = ev.scalar_arg(args[0], ts)
        m = _matrix(ev, node, ts, 1)
        for p in set(phis):
            if not 0 <= p <= 1:
                ev.notes.warn(f"quantile value should be between 0 and 1, got {_fmt(p)}")
        return (
            _range_call(ev, m, rangefns.quantile_over_time(phis[0]))
            if len(set(phis)) <= 1
            else _quantile_steps(ev, m, phis)
        )
    if name == "absent_over_time":
        m = _matrix(ev, node, ts)
        present = [any(rs.windows[i][1] > rs.windows[i][0] for rs in m.series) for i in range(n)]
        return _absent(args[0], present)
    if name == "absent":
        series = ev.vector_arg(args[0], ts)
        present = [any(s.values[i] is not None for s in series) for i in range(n)]
        return _absent(args[0], present)
    fn = rangefns.over_time(name)
    if fn is not None:
        keep = name in ("last_over_time", "first_over_time")
        return _range_call(ev, _matrix(ev, node, ts), fn, drop=not keep)
    return _instant_call(ev, node, ts)


def _quantile_steps(ev: Evaluator, m: MatrixV, phis: list[float]) -> VectorV:
    out = []
    for rs in m.series:
        values: list[Num] = []
        for i, (lo, hi) in enumerate(rs.windows):
            values.append(
                rangefns.quantile_over_time(phis[i])(rs.ts, rs.vs, lo, hi, m.times[i], m.range_ms)
            )
        out.append(Series(rs.labels, values, True))
    return VectorV(out)


def _fmt(v: float) -> str:
    from compat_prom.query.values import format_value

    return format_value(v)


def _absent(arg: object, present: list[bool]) -> VectorV:
    if all(present):
        return VectorV([])
    labels = _absent_labels(arg)
    return VectorV([Series(labels, [None if p else 1.0 for p in present])])


def _instant_call(ev: Evaluator, node: Call, ts: list[int]) -> Value:
    name, args, n = node.name, node.args, len(ts)
    if name == "time":
        return ScalarV([t / 1000 for t in ts])
    if name == "pi":
        return ScalarV([math.pi] * n)
    if name in ("start", "end", "step", "range"):
        return ScalarV([ev.query_param(name) / 1000] * n)
    if name in ("min_of", "max_of"):
        cols = [ev.scalar_arg(a, ts) for a in args]
        pick = _min_of if name == "min_of" else _max_of
        return ScalarV([pick([c[i] for c in cols]) for i in range(n)])
    if name == "vector":
        vals = ev.scalar_arg(args[0], ts)
        return VectorV([Series(Labels(), list(vals))])
    if name == "scalar":
        series = ev.vector_arg(args[0], ts)
        out: list[float] = []
        for i in range(n):
            present = [v for s in series if (v := s.values[i]) is not None]
            out.append(present[0] if len(present) == 1 else math.nan)
        return ScalarV(out)
    if name == "timestamp":
        arg = args[0]
        if isinstance(arg, VectorSel):
            vec = ev.vector_selector(arg, ts, want_ts=True)
            return VectorV([Series(s.labels, s.values, True) for s in vec.series])
        return _map_step(ev.vector_arg(arg, ts), lambda v, i: ts[i] / 1000)
    if name in DATE_PARTS:
        fn = _date(name)
        if not args:
            return VectorV([Series(Labels(), [fn(t / 1000) for t in ts])])
        return _map(ev.vector_arg(args[0], ts), fn)
    if name == "round":
        series = ev.vector_arg(args[0], ts)
        to = ev.scalar_arg(args[1], ts) if len(args) > 1 else [1.0] * n
        return _map_step(series, lambda v, i: _round(v, to[i]))
    if name in ("clamp", "clamp_min", "clamp_max"):
        series = ev.vector_arg(args[0], ts)
        lo = ev.scalar_arg(args[1], ts) if name != "clamp_max" else [-math.inf] * n
        hi = (
            ev.scalar_arg(args[2], ts)
            if name == "clamp"
            else ev.scalar_arg(args[1], ts)
            if name == "clamp_max"
            else [math.inf] * n
        )
        out_series = []
        for s in series:
            values: list[Num] = []
            for i, v in enumerate(s.values):
                if v is None or (name == "clamp" and hi[i] < lo[i]):
                    values.append(None)
                elif lo[i] != lo[i] or hi[i] != hi[i]:
                    values.append(math.nan)
                else:
                    values.append(max(lo[i], min(hi[i], v)) if v == v else v)
            if any_present(values):
                out_series.append(Series(s.labels, values, True))
        return VectorV(out_series)
    if name in ("sort", "sort_desc"):
        series = ev.vector_arg(args[0], ts)
        if ev.is_range:
            ev.notes.warn(
                "sort is ineffective for range queries since results are always ordered by labels"
            )
            return VectorV(series)
        desc = name == "sort_desc"
        return _sort(series, _nan_last(desc), desc)
    if name in ("sort_by_label", "sort_by_label_desc"):
        if ev.is_range:
            ev.notes.warn(
                "sort is ineffective for range queries since results are always ordered by labels"
            )
        return labelfns.sort_by_label(ev, node, ts, name.endswith("_desc"))
    if name == "label_replace":
        return labelfns.label_replace(ev, node, ts)
    if name == "label_join":
        return labelfns.label_join(ev, node, ts)
    if name == "histogram_quantile":
        phis = ev.scalar_arg(args[0], ts)
        return histogram.quantile(ev, phis, ev.vector_arg(args[1], ts))
    if name == "histogram_quantiles":
        series = ev.vector_arg(args[0], ts)
        label = labelfns.string_arg(ev, args[1], ts)
        columns = [ev.scalar_arg(a, ts) for a in args[2:]]
        return histogram.quantiles(ev, label, columns, series)
    if name == "histogram_fraction":
        lower = ev.scalar_arg(args[0], ts)
        upper = ev.scalar_arg(args[1], ts)
        return histogram.fraction(ev, lower, upper, ev.vector_arg(args[2], ts))
    if isinstance(node, Subquery):  # pragma: no cover - parser rejects
        raise QueryError("unexpected subquery")
    raise Unprocessable(f"function {name}() is not supported")


def _min_of(values: list[float]) -> float:
    if any(v != v for v in values):
        return math.nan
    return min(values)


def _max_of(values: list[float]) -> float:
    if any(v != v for v in values):
        return math.nan
    return max(values)


def _round(v: float, to: float) -> float:
    if to == 0 or not math.isfinite(v):
        return v if to != 0 else math.nan
    inv = 1.0 / to
    return math.floor(v * inv + 0.5) / inv
