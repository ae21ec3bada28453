"""Recursive-descent LogQL parser: text → ``ast`` nodes. Pure.

Grammar and precedence follow Loki's ``pkg/logql/syntax/expr.y`` (v3.4): binary operators
bind ``or`` < ``and``/``unless`` < comparisons < ``+ -`` < ``* / %`` < ``^`` (right
associative); a pipeline is a chain of ``|``-stages after a stream selector; a range
aggregation wraps ``{…} pipeline [| unwrap …] [range] [offset d]``. Every error is a
``QueryError`` whose text starts with ``parse error at line L, col C:`` like Loki's, so
Grafana shows users where the query went wrong.
"""

from __future__ import annotations

from typing import NoReturn

from compat_loki.query import ast
from compat_loki.query.lexer import Token, parse_error, tokenize
from compat_loki.query.template import compile_template
from core.errors import BadRequest, QueryError
from core.labels import Matcher
from core.lazyre2 import re2

_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    ">": 3,
    ">=": 3,
    "<": 3,
    "<=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "^": 6,
}
_LINE_FILTER_OPS = ("|=", "!=", "|~", "!~", "|>", "!>")
_MATCH_OPS = ("=", "!=", "=~", "!~")
_CMP_OPS = ("==", "=", "!=", ">", ">=", "<", "<=", "=~", "!~")
# After a stage keyword these start a label filter on a label of that name; ``!=``/``!~``
# start a line filter instead (``| json != "x"``), as in Loki where the words are keywords.
_FILTER_ONLY_OPS = frozenset({"==", "=", ">", ">=", "<", "<=", "=~"})
_PARSER_WORDS = frozenset(
    {
        "json",
        "logfmt",
        "pattern",
        "regexp",
        "unpack",
        "decolorize",
        "line_format",
        "label_format",
        "drop",
        "keep",
        "unwrap",
    }
)
_CONVERSIONS = ("duration", "duration_seconds", "bytes")
EMPTY_SELECTOR = (
    "queries require at least one regexp or equality matcher that does not have an "
    'empty-compatible value. For instance, app=~".*" does not meet this requirement, '
    'but app=~".+" will'
)
MAX_QUERY_LENGTH = 64 * 1024
MAX_DEPTH = 200
# Operator chains (``1+1+1…``, ``a="1" and a="1" and …``) build trees as deep as they are
# long, and evaluation recurses over them: bound them like nesting.
MAX_CHAIN = 200


def parse(text: str) -> ast.Expr:
    """Parse a whole LogQL query (log or metric)."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"query too long ({len(text)} > {MAX_QUERY_LENGTH} characters)")
    parser = _Parser(tokenize(text))
    expr = parser.expr(0)
    parser.expect("EOF")
    return expr


def parse_selector(text: str) -> tuple[Matcher, ...]:
    """A bare stream selector ``{a="b"}`` (``series``' ``match[]``, ``labels?query=``)."""
    expr = parse(text)
    if not isinstance(expr, ast.LogQuery):
        raise QueryError("parse error: only a stream selector is allowed here")
    return expr.matchers


def compile_line_regex(pattern: str, tok: Token) -> object:
    """RE2 for ``|~``: unanchored, like Go's regexp in Loki's line filters."""
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error:
        raise parse_error(tok.line, tok.col, f"invalid regular expression {pattern!r}") from None


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.chain = 0

    # ---------------------------------------------------------------- token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, n: int = 1) -> Token:
        return self.tokens[min(self.i + n, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "EOF":
            self.i += 1
        return tok

    def fail(self, expecting: str = "", tok: Token | None = None) -> NoReturn:
        t = tok or self.tok
        found = "$end" if t.kind == "EOF" else repr(t.text) if t.kind == "STRING" else t.text
        msg = f"syntax error: unexpected {found}"
        if expecting:
            msg += f", expecting {expecting}"
        raise parse_error(t.line, t.col, msg)

    def expect(self, kind: str, expecting: str = "") -> Token:
        if self.tok.kind != kind:
            self.fail(expecting or kind.replace("EOF", "end of query"))
        return self.advance()

    def is_word(self, word: str, tok: Token | None = None) -> bool:
        t = tok or self.tok
        return t.kind == "IDENT" and t.text == word

    def ident(self, expecting: str = "identifier") -> str:
        return self.expect("IDENT", expecting).text

    def string(self) -> str:
        return self.expect("STRING", "string").text

    # ---------------------------------------------------------------- expressions
    def expr(self, min_prec: int) -> ast.Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail("a shallower expression (nesting too deep)")
        left = self.unary()
        while True:
            op = self._binary_op()
            if op is None or _PRECEDENCE[op] < min_prec:
                break
            self.advance()
            bool_mod = False
            if self.is_word("bool"):
                if op not in ast.COMPARISON_OPS:
                    self.fail("a comparison operator before bool")
                self.advance()
                bool_mod = True
            matching = self._vector_matching()
            self._chained()
            next_min = _PRECEDENCE[op] if op == "^" else _PRECEDENCE[op] + 1
            right = self.expr(next_min)
            left = ast.BinaryExpr(op, left, right, bool_mod, matching)
        self.depth -= 1
        return left

    def _chained(self) -> None:
        self.chain += 1
        if self.chain > MAX_CHAIN:
            self.fail(f"at most {MAX_CHAIN} binary or label-filter operators")

    def _binary_op(self) -> str | None:
        t = self.tok
        if t.kind in _PRECEDENCE:
            return t.kind
        if t.kind == "IDENT" and t.text in ("or", "and", "unless"):
            return t.text
        return None

    def _vector_matching(self) -> ast.VectorMatching | None:
        if not (self.is_word("on") or self.is_word("ignoring")):
            return None
        on = self.advance().text == "on"
        labels = self._label_list()
        card = ""
        include: tuple[str, ...] = ()
        if self.is_word("group_left") or self.is_word("group_right"):
            card = self.advance().text
            if self.tok.kind == "(":
                include = self._label_list()
        return ast.VectorMatching(on, labels, card, include)  # type: ignore[arg-type]

    def unary(self) -> ast.Expr:
        t = self.tok
        if t.kind in ("+", "-") and self.peek().kind == "NUMBER":
            self.advance()
            number = self.advance().value
            return ast.NumberLiteral(-number if t.kind == "-" else number)
        if t.kind == "NUMBER":
            self.advance()
            return ast.NumberLiteral(t.value)
        if t.kind == "{":
            return self.log_query()
        if t.kind == "(":
            self.advance()
            inner = self.expr(0)
            self.expect(")", ")")
            return inner
        if t.kind == "IDENT":
            name = t.text
            if name in ast.RANGE_OPS and self.peek().kind == "(":
                return self.range_aggregation()
            if name in ast.VECTOR_OPS and self.peek().kind in ("(", "IDENT"):
                return self.vector_aggregation()
            if name == "vector" and self.peek().kind == "(":
                self.advance()
                self.advance()
                value = self._signed_number()
                self.expect(")", ")")
                return ast.VectorExpr(value)
            if name == "label_replace" and self.peek().kind == "(":
                return self.label_replace()
        self.fail("a query: {selector}, a number, or a function")

    def _signed_number(self) -> float:
        sign = 1.0
        if self.tok.kind in ("+", "-"):
            sign = -1.0 if self.advance().kind == "-" else 1.0
        return sign * self.expect("NUMBER", "number").value

    def label_replace(self) -> ast.LabelReplace:
        self.advance()
        self.expect("(")
        inner = self.expr(0)
        args: list[str] = []
        for _ in range(4):
            self.expect(",", ",")
            args.append(self.string())
        self.expect(")", ")")
        dst, replacement, src, regex = args
        try:
            Matcher(src, "=~", regex)
        except BadRequest as exc:
            raise QueryError(exc.message) from None
        return ast.LabelReplace(inner, dst, replacement, src, regex)

    # ---------------------------------------------------------------- aggregations
    def _label_list(self) -> tuple[str, ...]:
        self.expect("(", "(")
        names: list[str] = []
        while self.tok.kind != ")":
            names.append(self.ident("label name"))
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != ")":
                self.fail(", or )")
        self.advance()
        return tuple(names)

    def _grouping(self) -> ast.Grouping | None:
        if self.is_word("by") or self.is_word("without"):
            without = self.advance().text == "without"
            return ast.Grouping(without, self._label_list())
        return None

    def vector_aggregation(self) -> ast.VectorAggregation:
        op = self.advance().text
        grouping = self._grouping()
        self.expect("(", "(")
        param: int | None = None
        if op in ("topk", "bottomk", "approx_topk"):
            tok = self.tok
            value = self._signed_number()
            if value != int(value) or value < 0:
                self.fail("a non-negative integer k", tok)
            param = int(value)
            self.expect(",", ",")
        inner = self.expr(0)
        self.expect(")", ")")
        after = self._grouping()
        if after is not None:
            if grouping is not None:
                self.fail("a single by/without clause")
            grouping = after
        if isinstance(inner, ast.LogQuery):
            raise QueryError(f"parse error: {op}() needs a metric query, got a log query")
        return ast.VectorAggregation(op, inner, grouping, param)

    def range_aggregation(self) -> ast.RangeAggregation:
        op_tok = self.advance()
        op = op_tok.text
        self.expect("(", "(")
        param: float | None = None
        if op == "quantile_over_time":
            param = self._signed_number()
            self.expect(",", ",")
        log_range = self.log_range()
        self.expect(")", ")")
        grouping = self._grouping()
        if op in ast.UNWRAP_OPS and log_range.unwrap is None:
            raise parse_error(op_tok.line, op_tok.col, f"{op} needs an | unwrap <label> stage")
        if op not in ast.UNWRAP_OPS and op != "rate" and log_range.unwrap is not None:
            raise parse_error(op_tok.line, op_tok.col, f"{op} does not take an unwrapped range")
        return ast.RangeAggregation(op, log_range, param, grouping)

    def log_range(self) -> ast.LogRange:
        """``{…} [range] stages [range]``, or ``({…} stages)[range]``; then ``offset``."""
        range_ns: int | None = None
        if self.tok.kind == "(":
            self.advance()
            query, unwrap, post = self.log_pipeline_with_unwrap()
            self.expect(")", ")")
        else:
            if self.tok.kind != "{":
                self.fail("{ (a stream selector with a [range])")
            matchers = self.selector()
            if self.tok.kind == "[":
                range_ns = self._range()
            stages, unwrap, post = self.pipeline(allow_unwrap=True)
            query = ast.LogQuery(matchers, stages)
        if self.tok.kind == "[":
            if range_ns is not None:
                self.fail("a single [range]")
            range_ns = self._range()
        if range_ns is None:
            self.fail("[range]")
        offset = 0
        if self.is_word("offset"):
            self.advance()
            offset = int(self.expect("DURATION", "duration").value)
        return ast.LogRange(query, range_ns, offset, unwrap, post)

    def _range(self) -> int:
        self.expect("[")
        tok = self.expect("DURATION", "duration")
        self.expect("]", "]")
        if tok.value <= 0:
            self.fail("a positive duration", tok)
        return int(tok.value)

    def log_pipeline_with_unwrap(
        self,
    ) -> tuple[ast.LogQuery, ast.Unwrap | None, tuple[ast.LabelFilter, ...]]:
        matchers = self.selector()
        stages, unwrap, post = self.pipeline(allow_unwrap=True)
        return ast.LogQuery(matchers, stages), unwrap, post

    # ---------------------------------------------------------------- log queries
    def log_query(self) -> ast.LogQuery:
        matchers = self.selector()
        stages, _, _ = self.pipeline(allow_unwrap=False)
        return ast.LogQuery(matchers, stages)

    def selector(self) -> tuple[Matcher, ...]:
        open_tok = self.expect("{", "{")
        matchers: list[Matcher] = []
        while self.tok.kind != "}":
            matchers.append(self.matcher())
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != "}":
                self.fail("} or ,")
        self.advance()
        if not any(not m.matches_empty() for m in matchers):
            raise parse_error(open_tok.line, open_tok.col, EMPTY_SELECTOR)
        return tuple(matchers)

    def matcher(self) -> Matcher:
        name = self.ident("label name")
        if self.tok.kind not in _MATCH_OPS:
            self.fail("=, !=, =~ or !~")
        op = self.advance().kind
        value_tok = self.expect("STRING", "string")
        return self._make_matcher(name, op, value_tok)

    def _make_matcher(self, name: str, op: str, tok: Token) -> Matcher:
        try:
            return Matcher(name, op, tok.text)
        except BadRequest as exc:
            raise parse_error(tok.line, tok.col, exc.message) from None

    def pipeline(
        self, *, allow_unwrap: bool
    ) -> tuple[tuple[ast.Stage, ...], ast.Unwrap | None, tuple[ast.LabelFilter, ...]]:
        stages: list[ast.Stage] = []
        while True:
            t = self.tok
            if t.kind in _LINE_FILTER_OPS:
                stages.append(self.line_filter())
            elif t.kind == "|":
                if (
                    self.is_word("unwrap", self.peek())
                    and self.peek(2).kind not in _FILTER_ONLY_OPS
                ):
                    if not allow_unwrap:
                        self.fail("a pipeline stage (unwrap only inside a range aggregation)")
                    unwrap = self.unwrap()
                    post: list[ast.LabelFilter] = []
                    while self.tok.kind == "|":
                        self.advance()
                        post.append(ast.LabelFilter(self.label_filter_or()))
                    return tuple(stages), unwrap, tuple(post)
                self.advance()
                stages.append(self.stage())
            else:
                return tuple(stages), None, ()

    def _ip_pattern(self) -> str:
        self.advance()  # ip
        self.expect("(", "(")
        tok = self.expect("STRING", "string")
        self.expect(")", ")")
        from compat_loki.query.ipfilter import compile_ip_pattern

        try:
            compile_ip_pattern(tok.text)
        except QueryError as exc:
            raise parse_error(tok.line, tok.col, exc.message) from None
        return tok.text

    def line_filter(self) -> ast.LineFilter:
        op = self.advance().kind
        if op in ("|=", "!=") and self.is_word("ip") and self.peek().kind == "(":
            return ast.LineFilter(op, (self._ip_pattern(),), ip=True)  # type: ignore[arg-type]
        values: list[str] = []
        while True:
            tok = self.expect("STRING", "string")
            if op in ("|~", "!~"):
                compile_line_regex(tok.text, tok)
            elif op in ("|>", "!>"):
                from compat_loki.query.stages import compile_line_pattern

                try:
                    compile_line_pattern(tok.text)
                except QueryError as exc:
                    raise parse_error(tok.line, tok.col, exc.message) from None
            values.append(tok.text)
            if self.is_word("or") and self.peek().kind == "STRING":
                self.advance()
                continue
            return ast.LineFilter(op, tuple(values))  # type: ignore[arg-type]

    def unwrap(self) -> ast.Unwrap:
        self.advance()  # |
        self.advance()  # unwrap
        if self.tok.kind == "IDENT" and self.tok.text in _CONVERSIONS and self.peek().kind == "(":
            conversion = self.advance().text
            self.advance()
            label = self.ident("label name")
            self.expect(")", ")")
            return ast.Unwrap(label, conversion)  # type: ignore[arg-type]
        return ast.Unwrap(self.ident("label name"))

    def stage(self) -> ast.Stage:
        t = self.tok
        if t.kind == "(":
            return ast.LabelFilter(self.label_filter_or())
        if t.kind != "IDENT":
            self.fail("a pipeline stage")
        word = t.text
        if word not in _PARSER_WORDS or self.peek().kind in _FILTER_ONLY_OPS:
            return ast.LabelFilter(self.label_filter_or())
        self.advance()
        if word == "json":
            return ast.JsonParser(self._extraction_params())
        if word == "logfmt":
            strict = keep_empty = False
            while self.tok.kind == "FLAG":
                flag = self.advance()
                if flag.text == "--strict":
                    strict = True
                elif flag.text == "--keep-empty":
                    keep_empty = True
                else:
                    self.fail("--strict or --keep-empty", flag)
            return ast.LogfmtParser(self._extraction_params(), strict, keep_empty)
        if word == "pattern":
            tok = self.expect("STRING", "string")
            from compat_loki.query.stages import compile_pattern

            try:
                compile_pattern(tok.text)
            except QueryError as exc:
                raise parse_error(tok.line, tok.col, exc.message) from None
            return ast.PatternParser(tok.text)
        if word == "regexp":
            tok = self.expect("STRING", "string")
            compiled = compile_line_regex(tok.text, tok)
            if not getattr(compiled, "groupindex", None):
                raise parse_error(tok.line, tok.col, "regexp needs at least one named group")
            return ast.RegexpParser(tok.text)
        if word == "unpack":
            return ast.UnpackParser()
        if word == "decolorize":
            return ast.Decolorize()
        if word == "line_format":
            tok = self.expect("STRING", "string")
            self._check_template(tok)
            return ast.LineFormat(tok.text)
        if word == "label_format":
            return ast.LabelFormat(self._label_format_items())
        if word in ("drop", "keep"):
            items = self._drop_keep_items()
            return ast.Drop(items) if word == "drop" else ast.Keep(items)
        self.fail("a pipeline stage", t)

    def _check_template(self, tok: Token) -> None:
        try:
            compile_template(tok.text)
        except QueryError as exc:
            raise parse_error(tok.line, tok.col, exc.message) from None

    def _extraction_params(self) -> tuple[tuple[str, str], ...]:
        params: list[tuple[str, str]] = []
        while self.tok.kind == "IDENT" and not self._ends_stage_word():
            name = self.advance().text
            if self.tok.kind == "=":
                self.advance()
                params.append((name, self.string()))
            else:
                params.append((name, name))
            if self.tok.kind != ",":
                break
            self.advance()
        return tuple(params)

    def _ends_stage_word(self) -> bool:
        return self.tok.text in ("offset", "or", "and", "unless", "by", "without")

    def _label_format_items(self) -> tuple[ast.LabelFormatItem, ...]:
        items: list[ast.LabelFormatItem] = []
        while True:
            dst = self.ident("label name")
            self.expect("=", "=")
            if self.tok.kind == "STRING":
                tok = self.advance()
                self._check_template(tok)
                items.append(ast.LabelFormatItem(dst, tok.text, True))
            else:
                items.append(ast.LabelFormatItem(dst, self.ident("label name or string"), False))
            if self.tok.kind != ",":
                return tuple(items)
            self.advance()

    def _drop_keep_items(self) -> tuple[ast.DropKeepItem, ...]:
        items: list[ast.DropKeepItem] = []
        while True:
            name = self.ident("label name")
            if self.tok.kind in _MATCH_OPS:
                op = self.advance().kind
                items.append(
                    ast.DropKeepItem(name, self._make_matcher(name, op, self.expect("STRING")))
                )
            else:
                items.append(ast.DropKeepItem(name))
            if self.tok.kind != ",":
                return tuple(items)
            self.advance()

    # ---------------------------------------------------------------- label filters
    def label_filter_or(self) -> ast.LabelFilterExpr:
        left = self.label_filter_and()
        while self.is_word("or"):
            self.advance()
            self._chained()
            left = ast.OrLabelFilter(left, self.label_filter_and())
        return left

    def label_filter_and(self) -> ast.LabelFilterExpr:
        left = self.label_filter_unit()
        while self.is_word("and") or self.tok.kind == ",":
            comma = self.advance().kind == ","
            self._chained()
            left = ast.AndLabelFilter(left, self.label_filter_unit(), comma)
        return left

    def label_filter_unit(self) -> ast.LabelFilterExpr:
        if self.tok.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                self.fail("a shallower label filter (nesting too deep)")
            self.advance()
            inner = self.label_filter_or()
            self.expect(")", ")")
            self.depth -= 1
            return inner
        name = self.ident("label name")
        if self.tok.kind not in _CMP_OPS:
            self.fail("a comparison operator")
        op = self.advance().kind
        t = self.tok
        if self.is_word("ip") and self.peek().kind == "(":
            if op not in ("=", "!="):
                self.fail("= or != before ip()")
            return ast.IpLabelFilter(name, "=" if op == "=" else "!=", self._ip_pattern())
        if t.kind == "STRING":
            if op not in ("=", "==", "!=", "=~", "!~"):
                self.fail("a number, duration or byte size after " + op)
            self.advance()
            return ast.StringLabelFilter(self._make_matcher(name, "=" if op == "==" else op, t))
        if op in ("=~", "!~"):
            self.fail("string")
        sign = ""
        if t.kind == "-" and self.peek().kind in ("NUMBER", "DURATION", "BYTES"):
            sign = "-"
            self.advance()
            t = self.tok
        kinds = {"NUMBER": "number", "DURATION": "duration", "BYTES": "bytes"}
        if t.kind not in kinds:
            self.fail("string, number, duration or bytes")
        self.advance()
        value = -t.value if sign else t.value
        return ast.NumberLabelFilter(name, op, kinds[t.kind], value, sign + t.text)  # type: ignore[arg-type]
