"""The Prometheus query API's logic, free of HTTP: parameters in, JSON text out.

``prom_api`` (the FastAPI router) only merges URL and form parameters, opens a read
connection and calls one of these. Parameter rules follow Prometheus' ``web/api/v1``:
times are unix seconds (float) or RFC 3339; ``step`` is float seconds or a duration and is
required for ranges; more than 11,000 points is refused; ``match[]`` selectors are parsed
with the PromQL parser; ``limit`` truncates with a warning (as Prometheus 3 does).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from compat_prom.query import ast
from compat_prom.query.engine import Limits, Result, run_instant, run_range
from compat_prom.query.jsonfmt import envelope, result_json, with_stats
from compat_prom.query.reader import SampleReader
from core.errors import BadRequest
from core.labels import Labels, Matcher
from core.timeparse import parse_duration_ms, parse_time_seconds

MAX_POINTS = 11_000
MIN_TIME_MS = -(2**53)
MAX_TIME_MS = 2**53
DEFAULT_MAX_SAMPLES = 20_000_000


class Params:
    """Request parameters: URL query and form body merged, repeated keys kept."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def get(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.pairs:
            if k == name:
                return v
        return default

    def getall(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]


@dataclass
class QueryOptions:
    """Server-side limits (settings) applied to every query."""

    max_samples: int = DEFAULT_MAX_SAMPLES
    max_timeout_s: float = 120.0


def parse_time_ms(text: str | None, default_ms: int, name: str) -> int:
    if text is None or text == "":
        return default_ms
    try:
        seconds = parse_time_seconds(text)
    except BadRequest:
        raise BadRequest(
            f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp'
        ) from None
    return round(seconds * 1000)


def parse_step_ms(text: str | None) -> int:
    if text is None or text == "":
        raise BadRequest('invalid parameter "step": cannot parse "" to a valid duration')
    try:
        seconds = float(text)
    except ValueError:
        try:
            return parse_duration_ms(text)
        except BadRequest:
            raise BadRequest(
                f'invalid parameter "step": cannot parse "{text}" to a valid duration'
            ) from None
    if not math.isfinite(seconds):
        raise BadRequest(f'invalid parameter "step": cannot parse "{text}" to a valid duration')
    return round(seconds * 1000)


def _timeout(p: Params, opts: QueryOptions) -> float:
    text = p.get("timeout")
    if not text:
        return opts.max_timeout_s
    try:
        seconds = parse_step_ms(text) / 1000
    except BadRequest:
        raise BadRequest(
            f'invalid parameter "timeout": cannot parse "{text}" to a valid duration'
        ) from None
    return max(0.001, min(seconds, opts.max_timeout_s))


def _limit(p: Params) -> int:
    text = p.get("limit")
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(
            'invalid parameter "limit": cannot parse to a non-negative integer'
        ) from None
    if value < 0:
        raise BadRequest('invalid parameter "limit": limit must be non-negative')
    return value


def _query(p: Params) -> ast.Node:
    text = p.get("query")
    if text is None or not text.strip():
        raise BadRequest('invalid parameter "query": query must not be empty')
    return ast.parse(text)


def _stats(res: Result, started: float) -> dict[str, Any]:
    elapsed = time.perf_counter() - started
    return {
        "timings": {
            "evalTotalTime": elapsed,
            "resultSortTime": 0,
            "queryPreparationTime": 0,
            "innerEvalTime": elapsed,
            "execQueueTime": 0,
            "execTotalTime": elapsed,
        },
        "samples": {"totalQueryableSamples": res.samples, "peakSamples": res.samples},
    }


def _respond(res: Result, p: Params, started: float) -> str:
    data = result_json(res)
    if p.get("stats"):
        data = with_stats(data, _stats(res, started))
    return envelope(data, res.annotations.warnings, res.annotations.infos)


def instant_query(reader: SampleReader, p: Params, now_ms: int, opts: QueryOptions) -> str:
    started = time.perf_counter()
    node = _query(p)
    t = parse_time_ms(p.get("time"), now_ms, "time")
    limits = Limits(max_samples=opts.max_samples, timeout_s=_timeout(p, opts))
    res = run_instant(reader, node, t, limits)
    _apply_result_limit(res, _limit(p))
    return _respond(res, p, started)


def range_query(reader: SampleReader, p: Params, opts: QueryOptions) -> str:
    started = time.perf_counter()
    start = parse_time_ms(p.get("start"), -1, "start") if p.get("start") else None
    end = parse_time_ms(p.get("end"), -1, "end") if p.get("end") else None
    if start is None:
        raise BadRequest('invalid parameter "start": cannot parse "" to a valid timestamp')
    if end is None:
        raise BadRequest('invalid parameter "end": cannot parse "" to a valid timestamp')
    if end < start:
        raise BadRequest('invalid parameter "end": end timestamp must not be before start time')
    step = parse_step_ms(p.get("step"))
    if step <= 0:
        raise BadRequest(
            'invalid parameter "step": zero or negative query resolution step widths are not '
            "accepted. "
            "Try a positive integer"
        )
    if (end - start) // step > MAX_POINTS:
        raise BadRequest(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
            "resolution (?step=XX)"
        )
    node = _query(p)
    limits = Limits(max_samples=opts.max_samples, timeout_s=_timeout(p, opts))
    res = run_range(reader, node, start, end, step, limits)
    _apply_result_limit(res, _limit(p))
    return _respond(res, p, started)


def _apply_result_limit(res: Result, limit: int) -> None:
    if not limit:
        return
    if res.kind == "vector" and len(res.vector) > limit:
        res.vector = res.vector[:limit]
        res.annotations.warn(f"results truncated due to limit ({limit})")
    elif res.kind == "matrix" and len(res.matrix) > limit:
        res.matrix = res.matrix[:limit]
        res.annotations.warn(f"results truncated due to limit ({limit})")


def parse_match(text: str) -> list[list[Matcher]]:
    """A ``match[]`` selector → matcher groups (``or`` inside braces gives several)."""
    node = ast.parse(text)
    if not isinstance(node, ast.VectorSel):
        raise BadRequest(f'invalid parameter "match[]": {text!r} is not a series selector')
    if node.at is not None or node.offset_ms:
        raise BadRequest(f'invalid parameter "match[]": {text!r} must not use offset or @')
    return node.matcher_groups()


def _range_params(p: Params, now_ms: int) -> tuple[int, int]:
    start = parse_time_ms(p.get("start"), MIN_TIME_MS, "start")
    end = parse_time_ms(p.get("end"), MAX_TIME_MS, "end")
    if end < start:
        raise BadRequest('invalid parameter "end": end timestamp must not be before start time')
    return start, end


def _matchers(p: Params, required: bool) -> list[list[Matcher]]:
    texts = p.getall("match[]")
    if not texts and required:
        raise BadRequest("no match[] parameter provided")
    groups: list[list[Matcher]] = []
    for text in texts:
        groups.extend(parse_match(text))
    return groups


def _finish_list(values: list[Any], limit: int) -> str:
    warnings = []
    if limit and len(values) > limit:
        values = values[:limit]
        warnings.append("results truncated due to limit")
    return envelope(json.dumps(values, ensure_ascii=False, separators=(",", ":")), warnings, [])


def series(reader: SampleReader, p: Params, now_ms: int) -> str:
    start, end = _range_params(p, now_ms)
    seen: dict[Labels, None] = {}
    for group in _matchers(p, required=True):
        for labels in reader.series(group, start, end):
            seen.setdefault(labels, None)
    ordered = sorted(seen, key=lambda lbl: lbl.items_tuple)
    return _finish_list([dict(lbl.items_tuple) for lbl in ordered], _limit(p))


def label_names(reader: SampleReader, p: Params, now_ms: int) -> str:
    start, end = _range_params(p, now_ms)
    names: set[str] = set()
    for group in _matchers(p, required=False) or [[]]:
        names.update(reader.label_names(group, start, end))
    return _finish_list(sorted(names), _limit(p))


def label_values(reader: SampleReader, name: str, p: Params, now_ms: int) -> str:
    start, end = _range_params(p, now_ms)
    if not name:
        raise BadRequest(f"invalid label name: {name!r}")
    values: set[str] = set()
    for group in _matchers(p, required=False) or [[]]:
        values.update(reader.label_values(name, group, start, end))
    return _finish_list(sorted(values), _limit(p))


def format_query(p: Params) -> str:
    text = p.get("query") or ""
    return envelope(json.dumps(ast.prettify(text)), [], [])


def parse_query(p: Params) -> str:
    node = ast.parse(p.get("query") or "")
    return envelope(json.dumps(ast_json(node)), [], [])


def ast_json(node: ast.Node) -> dict[str, Any]:
    """A JSON view of the parsed expression, shaped like Prometheus' ``parse_query``."""
    if isinstance(node, ast.NumberLit):
        return {"type": "numberLiteral", "val": str(node.val)}
    if isinstance(node, ast.StringLit):
        return {"type": "stringLiteral", "val": node.val}
    if isinstance(node, ast.VectorSel):
        return {
            "type": "vectorSelector",
            "name": node.name or "",
            "matchers": [{"type": m.op, "name": m.name, "value": m.value} for m in node.matchers],
            "offset": node.offset_ms,
            "timestamp": node.at.ms if node.at and node.at.kind == "time" else None,
            "startOrEnd": node.at.kind if node.at and node.at.kind != "time" else None,
        }
    if isinstance(node, ast.MatrixSel):
        return {
            "type": "matrixSelector",
            "range": node.range_ms,
            "vectorSelector": ast_json(node.vs),
        }
    if isinstance(node, ast.Subquery):
        return {
            "type": "subquery",
            "expr": ast_json(node.expr),
            "range": node.range_ms,
            "step": node.step_ms or 0,
            "offset": node.offset_ms,
        }
    if isinstance(node, ast.Call):
        return {
            "type": "call",
            "func": {"name": node.name, "returnType": node.return_type},
            "args": [ast_json(a) for a in node.args],
        }
    if isinstance(node, ast.Aggregate):
        return {
            "type": "aggregation",
            "op": node.op,
            "expr": ast_json(node.expr),
            "param": ast_json(node.param) if node.param is not None else None,
            "grouping": node.grouping,
            "without": node.without,
        }
    if isinstance(node, ast.Binary):
        return {
            "type": "binaryExpr",
            "op": node.op,
            "lhs": ast_json(node.lhs),
            "rhs": ast_json(node.rhs),
            "bool": node.return_bool,
            "matching": {
                "card": node.card,
                "labels": node.match_labels,
                "on": node.on,
                "include": node.include,
            },
        }
    if isinstance(node, ast.Unary):
        return {"type": "unaryExpr", "op": "-", "expr": ast_json(node.expr)}
    return {"type": "unknown"}
