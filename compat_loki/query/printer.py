"""AST → canonical LogQL text. Pure.

``parse(to_text(e)) == e`` for every tree the parser builds (a property test holds us to
it). Binary operands and nested label filters are always bracketed, so the printed text
never depends on precedence rules.
"""

from __future__ import annotations

import json
from decimal import Decimal

from compat_loki.query import ast
from core.labels import Matcher

_UNITS = (
    ("y", 365 * 86_400_000_000_000),
    ("w", 7 * 86_400_000_000_000),
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
)


def quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def duration(ns: int) -> str:
    if ns == 0:
        return "0s"
    out = []
    rest = ns
    for unit, size in _UNITS:
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)


def number(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{value} has no LogQL literal")
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def matcher(m: Matcher) -> str:
    return f"{m.name}{m.op}{quote(m.value)}"


def selector(matchers: tuple[Matcher, ...]) -> str:
    return "{" + ", ".join(matcher(m) for m in matchers) + "}"


def _params(params: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{name}={quote(expr)}" for name, expr in params)


def label_filter(expr: ast.LabelFilterExpr) -> str:
    if isinstance(expr, ast.StringLabelFilter):
        return matcher(expr.matcher)
    if isinstance(expr, ast.NumberLabelFilter):
        return f"{expr.name}{expr.op}{expr.text}"
    if isinstance(expr, ast.IpLabelFilter):
        return f"{expr.name}{expr.op}ip({quote(expr.pattern)})"
    if isinstance(expr, ast.AndLabelFilter):
        left = label_filter(expr.left)
        if isinstance(expr.left, ast.OrLabelFilter):
            left = f"({left})"
        right = label_filter(expr.right)
        if isinstance(expr.right, ast.AndLabelFilter | ast.OrLabelFilter):
            right = f"({right})"
        return f"{left}{', ' if expr.comma else ' and '}{right}"
    left, right = label_filter(expr.left), label_filter(expr.right)
    if isinstance(expr.right, ast.OrLabelFilter):
        right = f"({right})"
    return f"{left} or {right}"


def stage(s: ast.Stage) -> str:
    if isinstance(s, ast.LineFilter):
        if s.ip:
            return f"{s.op} ip({quote(s.values[0])})"
        return f"{s.op} " + " or ".join(quote(v) for v in s.values)
    if isinstance(s, ast.JsonParser):
        return "| json" + (" " + _params(s.params) if s.params else "")
    if isinstance(s, ast.LogfmtParser):
        flags = (" --strict" if s.strict else "") + (" --keep-empty" if s.keep_empty else "")
        return "| logfmt" + flags + (" " + _params(s.params) if s.params else "")
    if isinstance(s, ast.PatternParser):
        return f"| pattern {quote(s.pattern)}"
    if isinstance(s, ast.RegexpParser):
        return f"| regexp {quote(s.regex)}"
    if isinstance(s, ast.UnpackParser):
        return "| unpack"
    if isinstance(s, ast.Decolorize):
        return "| decolorize"
    if isinstance(s, ast.LineFormat):
        return f"| line_format {quote(s.template)}"
    if isinstance(s, ast.LabelFormat):
        items = (f"{i.dst}={quote(i.src) if i.is_template else i.src}" for i in s.items)
        return "| label_format " + ", ".join(items)
    if isinstance(s, ast.Drop | ast.Keep):
        word = "drop" if isinstance(s, ast.Drop) else "keep"
        items = (i.name if i.matcher is None else matcher(i.matcher) for i in s.items)
        return f"| {word} " + ", ".join(items)
    return "| " + label_filter(s.expr)


def log_query(q: ast.LogQuery) -> str:
    return " ".join([selector(q.matchers), *(stage(s) for s in q.stages)])


def log_range(r: ast.LogRange) -> str:
    parts = [log_query(r.query)]
    if r.unwrap is not None:
        u = r.unwrap
        parts.append(
            f"| unwrap {u.conversion}({u.label})" if u.conversion else f"| unwrap {u.label}"
        )
        parts.extend(stage(f) for f in r.post_filters)
    text = " ".join(parts) + f" [{duration(r.range_ns)}]"
    if r.offset_ns:
        text += f" offset {duration(r.offset_ns)}"
    return text


def grouping(g: ast.Grouping | None) -> str:
    if g is None:
        return ""
    return f" {'without' if g.without else 'by'} ({', '.join(g.labels)})"


def to_text(e: ast.Expr) -> str:
    if isinstance(e, ast.LogQuery):
        return log_query(e)
    if isinstance(e, ast.NumberLiteral):
        return number(e.value)
    if isinstance(e, ast.VectorExpr):
        return f"vector({number(e.value)})"
    if isinstance(e, ast.RangeAggregation):
        param = f"{number(e.param)}, " if e.param is not None else ""
        return f"{e.op}({param}{log_range(e.range)}){grouping(e.grouping)}"
    if isinstance(e, ast.VectorAggregation):
        param = f"{e.param}, " if e.param is not None else ""
        return f"{e.op}{grouping(e.grouping)} ({param}{to_text(e.expr)})"
    if isinstance(e, ast.LabelReplace):
        args = ", ".join(quote(a) for a in (e.dst, e.replacement, e.src, e.regex))
        return f"label_replace({to_text(e.expr)}, {args})"
    op = e.op + (" bool" if e.bool_modifier else "")
    if e.matching is not None:
        m = e.matching
        op += f" {'on' if m.on else 'ignoring'}({', '.join(m.labels)})"
        if m.card:
            op += f" {m.card}({', '.join(m.include)})"
    return f"({to_text(e.left)}) {op} ({to_text(e.right)})"
