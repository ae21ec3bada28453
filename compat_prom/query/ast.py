"""Our PromQL AST, built from ``promql-parser``'s (the one place that knows its classes).

Why a copy of the tree: promql-parser's node classes are Rust objects whose attribute
names and enums have changed between releases; the engine should not care. Times become
integer milliseconds here, matchers become ``core.labels.Matcher`` (RE2, anchored), and
parentheses disappear. Parse errors become ``QueryError`` (400 ``bad_data``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from core.errors import QueryError
from core.labels import Matcher

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NEGATIVE_AT = "@ modifier times before 1970 are not supported"
_NEGATIVE_AT_RE = re.compile(r"@\s*-")
_STRINGS_RE = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}

# Value types of the PromQL type system.
SCALAR, VECTOR, MATRIX, STRING = "scalar", "vector", "matrix", "string"


@dataclass(frozen=True)
class At:
    """An ``@`` modifier: a fixed time in ms, or the query's ``start()`` / ``end()``."""

    kind: str  # "time" | "start" | "end"
    ms: int = 0


@dataclass
class Node:
    @property
    def type(self) -> str:
        raise NotImplementedError


@dataclass
class NumberLit(Node):
    val: float

    @property
    def type(self) -> str:
        return SCALAR


@dataclass
class StringLit(Node):
    val: str

    @property
    def type(self) -> str:
        return STRING


@dataclass
class VectorSel(Node):
    name: str | None
    matchers: list[Matcher]
    # ``{a="x" or b="y"}``: each group is an alternative set of matchers (union).
    or_groups: list[list[Matcher]] = field(default_factory=list)
    offset_ms: int = 0
    at: At | None = None

    @property
    def type(self) -> str:
        return VECTOR

    def matcher_groups(self) -> list[list[Matcher]]:
        return self.or_groups or [self.matchers]


@dataclass
class MatrixSel(Node):
    vs: VectorSel
    range_ms: int

    @property
    def type(self) -> str:
        return MATRIX


@dataclass
class Subquery(Node):
    expr: Node
    range_ms: int
    step_ms: int | None
    offset_ms: int = 0
    at: At | None = None

    @property
    def type(self) -> str:
        return MATRIX


@dataclass
class Call(Node):
    name: str
    args: list[Node]
    return_type: str

    @property
    def type(self) -> str:
        return self.return_type


@dataclass
class Aggregate(Node):
    op: str
    expr: Node
    param: Node | None
    grouping: list[str]
    without: bool

    @property
    def type(self) -> str:
        return VECTOR


@dataclass
class Binary(Node):
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    card: str = "one-to-one"  # one-to-one | many-to-one | one-to-many | many-to-many
    on: bool = False  # True: ``on(...)``; False: ``ignoring(...)`` (or none)
    match_labels: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)  # group_left/right labels
    fill_lhs: float | None = None
    fill_rhs: float | None = None

    @property
    def type(self) -> str:
        return SCALAR if self.lhs.type == SCALAR and self.rhs.type == SCALAR else VECTOR


@dataclass
class Unary(Node):
    expr: Node

    @property
    def type(self) -> str:
        return self.expr.type


def _parser() -> Any:
    """promql-parser, imported on the first query: a collector that only ingests never
    pays its ~1.5 MB RSS."""
    import promql_parser

    return promql_parser


def parse(text: str) -> Node:
    """Parse PromQL text into our AST; any parser complaint becomes a 400."""
    if _NEGATIVE_AT_RE.search(_STRINGS_RE.sub('""', text)):
        # promql-parser (0.12) cannot hand such times to Python (a Rust panic); refuse early.
        raise QueryError(_NEGATIVE_AT)
    try:
        tree = _parser().parse(text)
    except (ValueError, RuntimeError) as exc:
        raise QueryError(f"parse error: {exc}") from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a Rust panic inside promql-parser (pyo3 PanicException)
        raise QueryError(f"parse error: {exc}") from None
    return convert(tree)


def prettify(text: str) -> str:
    """promql-parser's canonical formatting (``/api/v1/format_query``)."""
    parse(text)  # our checks and error texts first
    return str(_parser().parse(text).prettify())


def _ms(delta: dt.timedelta | None) -> int:
    if delta is None:
        return 0
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _at(node: Any) -> At | None:
    mod = node.at
    if mod is None:
        return None
    kind = str(mod.type).rsplit(".", 1)[-1]
    if kind == "Start":
        return At("start")
    if kind == "End":
        return At("end")
    try:
        when: dt.datetime = mod.at
    except BaseException:  # pyo3 panics converting times before 1970 to datetime
        raise QueryError(_NEGATIVE_AT) from None
    delta = when - _EPOCH
    return At("time", round(delta.total_seconds() * 1000))


def _matcher(m: Any) -> Matcher:
    op = _MATCH_OPS[str(m.op).rsplit(".", 1)[-1].split("(")[0]]
    return Matcher(m.name, op, m.value)


def _vector(node: Any) -> VectorSel:
    ms = node.matchers
    matchers = [_matcher(m) for m in ms.matchers]
    groups = [[_matcher(m) for m in g] for g in (ms.or_matchers or [])]
    name = node.name
    if name is not None:
        name_m = Matcher("__name__", "=", name)
        matchers = [name_m, *matchers]
        groups = [[name_m, *g] for g in groups]
    return VectorSel(name, matchers, groups, _ms(node.offset), _at(node))


def _card(mod: Any) -> str:
    kind = str(mod.card).rsplit(".", 1)[-1]
    return {
        "OneToOne": "one-to-one",
        "ManyToOne": "many-to-one",
        "OneToMany": "one-to-many",
        "ManyToMany": "many-to-many",
    }[kind]


def _binary(node: Any) -> Binary:
    out = Binary(str(node.op), convert(node.lhs), convert(node.rhs))
    mod = node.modifier
    if mod is None:
        if out.op in ("and", "or", "unless"):
            out.card = "many-to-many"
        return out
    out.return_bool = bool(mod.return_bool)
    out.card = _card(mod)
    if mod.matching is not None:
        out.on = str(mod.matching.type).endswith("Include")
        out.match_labels = list(mod.matching.labels)
    out.include = list(mod.group_labels or [])
    fill = getattr(mod, "fill_values", None)
    if fill is not None:
        out.fill_lhs, out.fill_rhs = fill.lhs, fill.rhs
    return out


def _type_name(vt: Any) -> str:
    return str(vt).rsplit(".", 1)[-1].lower()


def convert(node: Any) -> Node:
    """promql-parser node → our node (recursively)."""
    kind = type(node).__name__
    if kind == "ParenExpr":
        return convert(node.expr)
    if kind == "NumberLiteral":
        return NumberLit(float(node.val))
    if kind == "StringLiteral":
        return StringLit(node.val)
    if kind == "VectorSelector":
        return _vector(node)
    if kind == "MatrixSelector":
        return MatrixSel(_vector(node.vector_selector), _ms(node.range))
    if kind == "SubqueryExpr":
        step = _ms(node.step) if node.step is not None else None
        return Subquery(convert(node.expr), _ms(node.range), step, _ms(node.offset), _at(node))
    if kind == "Call":
        args = [convert(a) for a in node.args]
        return Call(node.func.name, args, _type_name(node.func.return_type))
    if kind == "AggregateExpr":
        mod = node.modifier
        grouping = list(mod.labels) if mod is not None else []
        without = mod is not None and str(mod.type).endswith("Without")
        param = convert(node.param) if node.param is not None else None
        return Aggregate(str(node.op), convert(node.expr), param, grouping, without)
    if kind == "BinaryExpr":
        return _binary(node)
    if kind == "UnaryExpr":
        inner = convert(node.expr)
        if isinstance(inner, NumberLit):
            return NumberLit(-inner.val)
        return Unary(inner)
    raise QueryError(f"unsupported PromQL expression: {kind}")


def format_duration_ms(ms: int) -> str:
    """Prometheus' compact duration text (``1h30m``), for error messages."""
    if ms == 0:
        return "0s"
    out, rest = [], ms
    for unit, size in (
        ("y", 31_536_000_000),
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)
