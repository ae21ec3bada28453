"""The typed LogQL syntax tree the parser builds and the engine evaluates. Pure.

Every node is a frozen dataclass, so two parses of the same text compare equal (the
property tests rely on it: ``parse(print(ast)) == ast``). There is no parenthesis node: the
printer brackets every binary operand, which keeps precedence explicit without changing
the tree. Durations are integer nanoseconds, as the engine and the store count time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.labels import Matcher

# --------------------------------------------------------------------- log pipeline


@dataclass(frozen=True)
class LineFilter:
    """``|= "a"``, ``!= "a"``, ``|~ "re"``, ``!~ "re"``, ``|> "<_> pattern <_>"``, ``!> "…"``;
    ``|= "a" or "b"`` keeps several values.

    ``or`` alternatives: a positive filter keeps a line holding any value, a negative one
    drops a line holding any value (Loki v3 semantics).
    """

    op: Literal["|=", "!=", "|~", "!~", "|>", "!>"]
    values: tuple[str, ...]
    ip: bool = False  # ``|= ip("10.0.0.0/8")``: the line holds an address in that range


@dataclass(frozen=True)
class JsonParser:
    """``| json`` (every field, nested keys joined by ``_``) or ``| json a="x.y", b``."""

    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LogfmtParser:
    params: tuple[tuple[str, str], ...] = ()
    strict: bool = False
    keep_empty: bool = False


@dataclass(frozen=True)
class PatternParser:
    pattern: str


@dataclass(frozen=True)
class RegexpParser:
    regex: str


@dataclass(frozen=True)
class UnpackParser:
    pass


@dataclass(frozen=True)
class Decolorize:
    pass


@dataclass(frozen=True)
class LineFormat:
    template: str


@dataclass(frozen=True)
class LabelFormatItem:
    """``dst=src`` (rename, ``is_template`` false) or ``dst="{{ template }}"``."""

    dst: str
    src: str
    is_template: bool


@dataclass(frozen=True)
class LabelFormat:
    items: tuple[LabelFormatItem, ...]


@dataclass(frozen=True)
class DropKeepItem:
    """A bare name, or a matcher ``name="v"`` that limits which values are dropped/kept."""

    name: str
    matcher: Matcher | None = None


@dataclass(frozen=True)
class Drop:
    items: tuple[DropKeepItem, ...]


@dataclass(frozen=True)
class Keep:
    items: tuple[DropKeepItem, ...]


# Label filters ---------------------------------------------------------------------

CmpOp = Literal["==", "=", "!=", ">", ">=", "<", "<="]


@dataclass(frozen=True)
class StringLabelFilter:
    """``name op "value"`` with op in ``= != =~ !~`` (a Matcher, RE2 anchored)."""

    matcher: Matcher


@dataclass(frozen=True)
class NumberLabelFilter:
    """``name op value``: ``kind`` says how the label value is converted before comparing.

    ``value`` is a float for numbers, nanoseconds for durations and bytes for sizes; ``text``
    keeps the literal as written so the printer reproduces it.
    """

    name: str
    op: CmpOp
    kind: Literal["number", "duration", "bytes"]
    value: float
    text: str


@dataclass(frozen=True)
class AndLabelFilter:
    left: LabelFilterExpr
    right: LabelFilterExpr
    comma: bool = False  # written as ``a, b``: same meaning, kept so the printer round-trips


@dataclass(frozen=True)
class OrLabelFilter:
    left: LabelFilterExpr
    right: LabelFilterExpr


@dataclass(frozen=True)
class IpLabelFilter:
    """``name = ip("192.168.0.0/16")`` / ``!=``: address, CIDR range or ``a-b`` range."""

    name: str
    op: Literal["=", "!="]
    pattern: str


LabelFilterExpr = (
    StringLabelFilter | NumberLabelFilter | IpLabelFilter | AndLabelFilter | OrLabelFilter
)


@dataclass(frozen=True)
class LabelFilter:
    """A pipeline stage ``| <label filter expression>``."""

    expr: LabelFilterExpr


Stage = (
    LineFilter
    | JsonParser
    | LogfmtParser
    | PatternParser
    | RegexpParser
    | UnpackParser
    | Decolorize
    | LineFormat
    | LabelFormat
    | Drop
    | Keep
    | LabelFilter
)


@dataclass(frozen=True)
class LogQuery:
    """``{selector} stage stage ...``: a log query, or the inside of a range aggregation."""

    matchers: tuple[Matcher, ...]
    stages: tuple[Stage, ...] = ()


# --------------------------------------------------------------------- metric queries


@dataclass(frozen=True)
class Unwrap:
    """``| unwrap label`` / ``duration(label)`` / ``duration_seconds(label)`` / ``bytes(label)``."""

    label: str
    conversion: Literal["", "duration", "duration_seconds", "bytes"] = ""


@dataclass(frozen=True)
class LogRange:
    """``{…} | … [| unwrap x | filters] [range] [offset d]``."""

    query: LogQuery
    range_ns: int
    offset_ns: int = 0
    unwrap: Unwrap | None = None
    post_filters: tuple[LabelFilter, ...] = ()


@dataclass(frozen=True)
class Grouping:
    without: bool
    labels: tuple[str, ...]


RANGE_OPS = (
    "count_over_time",
    "rate",
    "bytes_over_time",
    "bytes_rate",
    "absent_over_time",
    "sum_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
    "rate_counter",
)
# Range aggregations that read samples from ``| unwrap`` rather than counting lines.
UNWRAP_OPS = frozenset(
    {
        "sum_over_time",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "quantile_over_time",
        "first_over_time",
        "last_over_time",
        "rate_counter",
    }
)
VECTOR_OPS = (
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "approx_topk",
    "sort",
    "sort_desc",
)


@dataclass(frozen=True)
class RangeAggregation:
    op: str
    range: LogRange
    param: float | None = None  # quantile_over_time's φ
    grouping: Grouping | None = None


@dataclass(frozen=True)
class VectorAggregation:
    op: str
    expr: Expr
    grouping: Grouping | None = None
    param: int | None = None  # topk / bottomk / approx_topk's k


@dataclass(frozen=True)
class VectorMatching:
    """``on(..)``/``ignoring(..)`` plus an optional ``group_left(..)``/``group_right(..)``."""

    on: bool
    labels: tuple[str, ...]
    card: Literal["", "group_left", "group_right"] = ""
    include: tuple[str, ...] = ()


BINARY_OPS = ("or", "and", "unless", "==", "!=", ">", ">=", "<", "<=", "+", "-", "*", "/", "%", "^")
COMPARISON_OPS = frozenset({"==", "!=", ">", ">=", "<", "<="})
SET_OPS = frozenset({"and", "or", "unless"})


@dataclass(frozen=True)
class BinaryExpr:
    op: str
    left: Expr
    right: Expr
    bool_modifier: bool = False
    matching: VectorMatching | None = None


@dataclass(frozen=True)
class NumberLiteral:
    value: float


@dataclass(frozen=True)
class VectorExpr:
    """``vector(1)``: a one-element vector with no labels at every step."""

    value: float


@dataclass(frozen=True)
class LabelReplace:
    expr: Expr
    dst: str
    replacement: str
    src: str
    regex: str


Expr = (
    LogQuery
    | RangeAggregation
    | VectorAggregation
    | BinaryExpr
    | NumberLiteral
    | VectorExpr
    | LabelReplace
)
