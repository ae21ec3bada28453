"""LogQL parser: examples per feature, round trip through the printer, hostile input."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compat_loki.query import ast
from compat_loki.query.parser import parse
from compat_loki.query.printer import to_text
from core.errors import QueryError
from core.labels import Matcher

EXAMPLES = [
    '{a="b"}',
    '{a="b", c=~"x|y", d!="z", e!~"re"}',
    '{a="b"} |= "err" or "warn" != `x` |~ "(?i)foo" !~ "bar.*"',
    'sum by (level) (count_over_time({container="app"}[1m]))',
    'sum(count_over_time({container="app"}[1m])) by (level)',
    '{container="app"} | json | status >= 500',
    '{a="b"} | json x="a.b[0]", y | logfmt --strict --keep-empty a, b="c"',
    '{a="b"} | pattern "<ip> - <_> <status>" | regexp `(?P<x>\\d+)` | unpack',
    '{a="b"} | line_format "{{.a | ToUpper}} {{ __line__ }}" | label_format b=a, c="{{.x}}"',
    '{a="b"} | decolorize | drop __error__, a="x" | keep a, b',
    '{a="b"} | x > 1s and y < 10KB or z == 5, w="q"',
    '{a="b"} | (x > 1 or y="2") and z!="3"',
    '{a="b"} | level="error" | duration >= 250ms | size <= 1MiB | n != -3.5',
    'quantile_over_time(0.99, {a="b"} | json | unwrap duration(latency) | __error__="" [5m]'
    " offset 1h) by (a)",
    'sum_over_time({a="b"} | logfmt | unwrap bytes(size) [1m])',
    'avg_over_time({a="b"} | unwrap x [1m])',
    "vector(1)+vector(1)",
    'topk(5, sum(rate({a="b"}[1m])) by (x)) > bool 3 and on(x) group_left(y) vector(1)',
    'label_replace(rate({a="b"}[1m]), "d", "$1", "a", "(.*)")',
    "2 ^ 3 ^ 2 - -1",
    'count_over_time(({a="b"} |= "x")[5m])',
    'count_over_time({a="b"}[5m] |= "x")',
    'rate({a="b"}[5m] offset 10m) / ignoring(x) bytes_rate({a="b"}[5m])'
    ' unless absent_over_time({a="c"}[1m])',
    'sort_desc(sum without (a, b) (bytes_over_time({x=~".+"}[1h])))',
    'first_over_time({a="b"} | unwrap v [1m]) - last_over_time({a="b"} | unwrap v [1m])',
    'stddev_over_time({a="b"} | unwrap v [1m]) * 2 % 3',
    'max by (a) (min_over_time({a="b"} | unwrap v [1m])) <= 10',
    '{a="b"}\n  |= "x" # a comment\n  | json',
    '{a="b"} |> "<_> level=error <_>" or "x <_>" !> "<_> debug"',
    '{a="b"} |= ip("10.0.0.0/8") != ip("10.1.0.0-10.1.0.9")'
    ' | addr = ip("::1") or b != ip("1.2.3.4")',
]


@pytest.mark.parametrize("query", EXAMPLES)
def test_examples_round_trip(query: str) -> None:
    tree = parse(query)
    assert parse(to_text(tree)) == tree


def test_shapes() -> None:
    tree = parse('sum by (level) (count_over_time({container="app"} |= "x" [1m]))')
    assert isinstance(tree, ast.VectorAggregation)
    assert tree.grouping == ast.Grouping(False, ("level",))
    inner = tree.expr
    assert isinstance(inner, ast.RangeAggregation)
    assert inner.range.range_ns == 60 * 10**9
    assert inner.range.query.stages == (ast.LineFilter("|=", ("x",)),)
    assert inner.range.query.matchers == (Matcher("container", "=", "app"),)
    # precedence: * binds tighter than +, ^ is right associative
    tree = parse("1 + 2 * 3 ^ 2 ^ 2")
    assert isinstance(tree, ast.BinaryExpr) and tree.op == "+"
    assert isinstance(tree.right, ast.BinaryExpr) and tree.right.op == "*"
    power = tree.right.right
    assert isinstance(power, ast.BinaryExpr) and isinstance(power.right, ast.BinaryExpr)
    # and binds tighter than or in label filters
    lf = parse('{a="b"} | x="1" or y="2" and z="3"')
    assert isinstance(lf, ast.LogQuery)
    stage = lf.stages[0]
    assert isinstance(stage, ast.LabelFilter) and isinstance(stage.expr, ast.OrLabelFilter)


def test_go_escapes_and_raw_strings() -> None:
    tree = parse('{a="b\\"q\\\\ \\x41\\u00e9\\101\\t"} |= `raw\\n`')
    assert isinstance(tree, ast.LogQuery)
    assert tree.matchers[0].value == 'b"q\\ A\u00e9A\t'
    assert tree.stages[0] == ast.LineFilter("|=", ("raw\\n",))


def test_durations_and_bytes() -> None:
    tree = parse('{a="b"} | d > 1h30m and s < 1.5KiB')
    assert isinstance(tree, ast.LogQuery)
    stage = tree.stages[0]
    assert isinstance(stage, ast.LabelFilter) and isinstance(stage.expr, ast.AndLabelFilter)
    left, right = stage.expr.left, stage.expr.right
    assert isinstance(left, ast.NumberLabelFilter) and left.value == 5400 * 10**9
    assert isinstance(right, ast.NumberLabelFilter) and right.value == 1536


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{a="b"', "parse error at line 1, col 7: syntax error: unexpected $end, expecting } or ,"),
        ("{}", "queries require at least one regexp or equality matcher"),
        ('{a=~".*"}', "queries require at least one regexp or equality matcher"),
        ('{a="b"}\n | json |', "parse error at line 2, col 10"),
        ('{a=~"("}', "invalid regular expression"),
        ('count_over_time({a="b"})', "expecting [range]"),
        ('sum_over_time({a="b"}[1m])', "needs an | unwrap"),
        ('{a="b"} | line_format "{{ .a | nosuch }}"', 'function "nosuch" not defined'),
        ('{a="b"} | pattern "nothing"', "at least one named capture"),
        ('{a="b"} | regexp "(x)"', "named group"),
        ('{a="b"} | x > "s"', "expecting a number"),
        ('{a="b"} |= "\\q"', "invalid escape"),
        ("sum(1", "expecting )"),
        ('rate({a="b"}[0s])', "positive duration"),
        ('{a="b"}[5m]', "unexpected ["),
        ('"', "unterminated string"),
        ("topk(-1, vector(1))", "non-negative integer"),
        ("(" * 500 + "1" + ")" * 500, "nesting too deep"),
        ("+".join(["1"] * 5000), "at most 200 binary"),
        ('{a="b"} | ' + " and ".join(['x="1"'] * 5000), "at most 200 binary"),
        ('{a="b"} | ' + ", ".join(['x="1"'] * 5000), "at most 200 binary"),
    ],
)
def test_errors(query: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    assert message in info.value.message
    assert info.value.message.startswith("parse error")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(
        alphabet=st.sampled_from(list('{}()[]|=!~"`,<>+-*/^% abcjson12.5msKB\n\\')), max_size=60
    )
)
def test_garbage_raises_only_query_error(text: str) -> None:
    try:
        tree = parse(text)
    except QueryError as exc:
        assert exc.message.startswith(("parse error", "query too long"))
    else:
        assert parse(to_text(tree)) == tree


@settings(max_examples=200)
@given(st.text(max_size=40))
def test_any_unicode_raises_only_query_error(text: str) -> None:
    with contextlib.suppress(QueryError):
        parse(text)


# -------------------------------------------------------------------- generated trees

names = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(
    # LogQL keywords cannot name a label in a filter (Loki's lexer reserves them)
    lambda s: (
        s
        not in {"by", "without", "or", "and", "unless", "bool", "offset", "on", "json", "logfmt"}
        | {"pattern", "regexp", "unpack", "decolorize", "drop", "keep", "unwrap", "ignoring"}
    )
)
values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
safe_regex = st.sampled_from([".+", "a|b", "x.*", "[0-9]+", "(?i)err"])


@st.composite
def matchers(draw: st.DrawFn) -> Matcher:
    op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
    value = draw(safe_regex) if op in ("=~", "!~") else draw(values)
    return Matcher(draw(names), op, value)


@st.composite
def selectors(draw: st.DrawFn) -> tuple[Matcher, ...]:
    first = Matcher(draw(names), "=", draw(values.filter(bool)))
    return (first, *draw(st.lists(matchers(), max_size=2)))


number_filters = st.builds(
    lambda n, op, v: ast.NumberLabelFilter(n, op, "number", float(v), str(v)),
    names,
    st.sampled_from(["==", "!=", ">", ">=", "<", "<="]),
    st.integers(0, 10**6),
)
string_filters = st.builds(ast.StringLabelFilter, matchers())
label_filters = st.recursive(
    number_filters | string_filters,
    lambda inner: (
        st.builds(ast.AndLabelFilter, inner, inner, st.booleans())
        | st.builds(ast.OrLabelFilter, inner, inner)
    ),
    max_leaves=4,
)
stages = st.one_of(
    st.builds(
        ast.LineFilter,
        st.sampled_from(["|=", "!="]),
        st.lists(values, min_size=1, max_size=2).map(tuple),
    ),
    st.builds(ast.LineFilter, st.sampled_from(["|~", "!~"]), st.tuples(safe_regex)),
    st.just(ast.JsonParser()),
    st.builds(
        ast.JsonParser,
        st.lists(st.tuples(names, st.just("a.b[0]")), min_size=1, max_size=2).map(tuple),
    ),
    st.just(ast.LogfmtParser()),
    st.just(ast.UnpackParser()),
    st.just(ast.Decolorize()),
    st.builds(ast.PatternParser, st.just("<ip> - <_> <status>")),
    st.builds(ast.LineFormat, st.just("{{ .a | ToUpper }} {{ __line__ }}")),
    st.builds(
        ast.Drop, st.lists(st.builds(ast.DropKeepItem, names), min_size=1, max_size=2).map(tuple)
    ),
    st.builds(ast.LabelFilter, label_filters),
)


def _unambiguous(stages: tuple[ast.Stage, ...]) -> bool:
    # `| drop a != "x"` reads as a drop matcher (as in Loki), never as drop + line filter
    return not any(
        isinstance(a, ast.Drop) and isinstance(b, ast.LineFilter) and b.op in ("!=", "!~")
        for a, b in itertools.pairwise(stages)
    )


log_queries = st.builds(
    ast.LogQuery, selectors(), st.lists(stages, max_size=3).map(tuple).filter(_unambiguous)
)
durations = st.integers(1, 10**6).map(lambda s: s * 10**9)
ranges = st.builds(ast.LogRange, log_queries, durations, st.sampled_from([0, 3600 * 10**9]))
range_aggs = st.builds(
    ast.RangeAggregation,
    st.sampled_from(
        ["count_over_time", "rate", "bytes_over_time", "bytes_rate", "absent_over_time"]
    ),
    ranges,
)
groupings = st.none() | st.builds(
    ast.Grouping, st.booleans(), st.lists(names, max_size=2).map(tuple)
)
metric = st.recursive(
    range_aggs | st.builds(ast.VectorExpr, st.integers(0, 9).map(float)),
    lambda inner: (
        st.builds(
            ast.VectorAggregation, st.sampled_from(["sum", "avg", "max", "count"]), inner, groupings
        )
        | st.builds(
            ast.BinaryExpr,
            st.sampled_from(["+", "-", "*", "/", "and", "or", "unless", ">"]),
            inner,
            inner | st.builds(ast.NumberLiteral, st.floats(-1e6, 1e6, allow_nan=False)),
        )
    ),
    max_leaves=4,
)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(log_queries | metric)
def test_print_then_parse_gives_same_tree(tree: ast.Expr) -> None:
    assert parse(to_text(tree)) == tree
