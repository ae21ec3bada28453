"""The log pipeline at run time: each ``ast`` stage compiled to a function over a ``Row``. Pure.

Semantics follow Loki's ``pkg/logql/log`` (v3.4), which Grafana users rely on:

1. Parsers never drop a line. A line that is not JSON / logfmt keeps flowing with
   ``__error__="JSONParserErr"`` (``LogfmtParserErr``) and ``__error_details__``.
2. A parsed key that collides with a stream label is renamed ``<key>_extracted``; keys are
   sanitized to label names (invalid characters become ``_``), nested JSON keys joined by ``_``.
3. Numeric / duration / bytes label filters let a line that already carries ``__error__``
   pass; a missing label fails them; a value that does not convert sets
   ``__error__="LabelFilterErr"`` and passes. String matchers see a missing label as ``""``.
4. ``| drop __error__`` also drops ``__error_details__`` (one command removes the pair).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from compat_loki.query import ast
from compat_loki.query.ipfilter import ip_line_test, ip_value_test
from compat_loki.query.lexer import bytes_value, duration_ns
from compat_loki.query.template import compile_template
from core.errors import QueryError
from core.lazyre2 import re2

ERROR = "__error__"
ERROR_DETAILS = "__error_details__"
_ANSI = re.compile(r"\x1b\[[0-9;:?]*[ -/]*[@-~]")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_GO_DURATION = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)")


class Row:
    """One log line moving through the pipeline with its labels.

    ``labels`` holds every label; ``parsed`` and ``meta`` name those that came from parsers
    (or formatting) and from structured metadata, so the API can categorize them.
    """

    __slots__ = ("labels", "line", "meta", "parsed", "stream", "ts")

    def __init__(
        self, ts: int, line: str, stream: dict[str, str], metadata: tuple[tuple[str, str], ...]
    ) -> None:
        self.ts = ts
        self.line = line
        self.stream = stream  # a plain dict: membership tests on it are the hot path
        self.labels: dict[str, str] = stream.copy()
        self.parsed: set[str] = set()
        self.meta: set[str] = set()
        for k, v in metadata:
            self.labels[k] = v
            self.meta.add(k)

    def set_parsed(self, key: str, value: str) -> None:
        if key in self.stream and key not in self.parsed:
            key = key + "_extracted"
        self.labels[key] = value
        self.parsed.add(key)

    def set_error(self, kind: str, details: str) -> None:
        if ERROR in self.labels:
            return
        self.labels[ERROR] = kind
        self.labels[ERROR_DETAILS] = details
        self.parsed.update((ERROR, ERROR_DETAILS))

    def remove(self, key: str) -> None:
        self.labels.pop(key, None)
        self.parsed.discard(key)
        self.meta.discard(key)


StageFn = Callable[[Row], bool]


@functools.lru_cache(maxsize=4096)
def sanitize_key(key: str) -> str:
    key = _INVALID_LABEL_CHARS.sub("_", key)
    if key and key[0].isdigit():
        key = "_" + key
    return key


def parse_go_duration_s(text: str) -> float:
    """Go's ``time.ParseDuration`` (``1h2m3.5s``, ``250ms``) → seconds; ValueError if not."""
    s = text.strip()
    ns = duration_ns(s.lstrip("+-"))
    if ns is None or not _GO_DURATION.match(s):
        if s in ("0", "+0", "-0"):
            return 0.0
        raise ValueError(f"invalid duration {text!r}")
    return (-ns if s.startswith("-") else ns) / 1e9


def parse_bytes(text: str) -> float:
    """humanize.ParseBytes: ``10KB``, ``1.5 MiB``, ``42`` → bytes; ValueError if not."""
    s = text.strip().replace(" ", "")
    try:
        return float(s)
    except ValueError:
        pass
    value = bytes_value(s)
    if value is None:
        raise ValueError(f"invalid bytes value {text!r}")
    return float(value)


# ------------------------------------------------------------------------ line filters


def _contains_fn(values: tuple[str, ...]) -> Callable[[str], bool]:
    if len(values) == 1:
        needle = values[0]
        return lambda line: needle in line
    return lambda line: any(v in line for v in values)


def _regex_fn(values: tuple[str, ...]) -> Callable[[str], bool]:
    options = re2.Options()
    options.log_errors = False
    compiled = [re2.compile(v, options) for v in values]
    return lambda line: any(c.search(line) is not None for c in compiled)


def compile_line_pattern(pattern: str) -> Any:
    """``|> "<_> level=error <_>"``: the whole line must fit the pattern (captures any text)."""
    parts = _PATTERN_CAPTURE.split(pattern)
    if len(parts) == 1 and not pattern:
        raise QueryError("empty pattern")
    regex = "".join(re.escape(part) if i % 2 == 0 else "(?:.*?)" for i, part in enumerate(parts))
    options = re2.Options()
    options.dot_nl = True
    options.log_errors = False
    return re2.compile(f"^(?:{regex})$", options)


def _pattern_fn(values: tuple[str, ...]) -> Callable[[str], bool]:
    compiled = [compile_line_pattern(v) for v in values]
    return lambda line: any(c.match(line) is not None for c in compiled)


def line_filter_fn(stage: ast.LineFilter) -> Callable[[str], bool]:
    if stage.ip:
        test = ip_line_test(stage.values[0])
    elif stage.op in ("|~", "!~"):
        test = _regex_fn(stage.values)
    elif stage.op in ("|>", "!>"):
        test = _pattern_fn(stage.values)
    else:
        test = _contains_fn(stage.values)
    if stage.op in ("|=", "|~", "|>"):
        return test
    return lambda line: not test(line)


# ------------------------------------------------------------------------ parsers


MAX_JSON_DEPTH = 64  # deeper objects are skipped: recursion must stay far from Python's limit


def _flatten_json(obj: Mapping[str, Any], prefix: str, row: Row, depth: int = 0) -> None:
    # The hot loop of `| json` (bench/logql.py): Row.set_parsed inlined, str/int first.
    labels, parsed, stream = row.labels, row.parsed, row.stream
    for key, value in obj.items():
        name = prefix + sanitize_key(key)
        kind = type(value)
        if kind is str:
            text = value
        elif kind is int:
            text = str(value)
        elif kind is dict:
            if depth < MAX_JSON_DEPTH:
                _flatten_json(value, name + "_", row, depth + 1)
            continue
        elif value is None or kind is list:
            continue
        else:
            text = _json_scalar(value)
        if name in stream and name not in parsed:
            name += "_extracted"
        labels[name] = text
        parsed.add(name)


def _json_scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_JSON_PATH_PART = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def compile_json_path(expr: str) -> list[str | int]:
    parts: list[str | int] = []
    pos = 0
    while pos < len(expr):
        match = _JSON_PATH_PART.match(expr, pos)
        if not match or match.end() == pos:
            raise QueryError(f"invalid JSON expression {expr!r}")
        name, index, quoted = match.groups()
        if name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(int(index))
        else:
            parts.append(json.loads(f'"{quoted}"'))
        pos = match.end()
    if not parts:
        raise QueryError(f"invalid JSON expression {expr!r}")
    return parts


def _json_lookup(obj: Any, path: list[str | int]) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(obj, list) or part >= len(obj):
                return None
            obj = obj[part]
        else:
            if not isinstance(obj, dict) or part not in obj:
                return None
            obj = obj[part]
    return obj


_DECODER = json.JSONDecoder()


def _load_json_object(row: Row) -> dict[str, Any] | None:
    # raw_decode skips json.loads' two whitespace regex matches (measured ~10% of `| json`)
    line = row.line
    try:
        if line[:1].isspace():
            line = line.strip()
        obj, end = _DECODER.raw_decode(line)
        if end != len(line) and line[end:].strip():
            raise ValueError(f"Extra data: line 1 column {end + 1} (char {end})")
    except (ValueError, RecursionError) as exc:
        row.set_error("JSONParserErr", str(exc)[:200])
        return None
    if not isinstance(obj, dict):
        row.set_error("JSONParserErr", "not a JSON object")
        return None
    return obj


def json_stage(stage: ast.JsonParser) -> StageFn:
    if not stage.params:

        def parse_all(row: Row) -> bool:
            obj = _load_json_object(row)
            if obj is not None:
                _flatten_json(obj, "", row)
            return True

        return parse_all
    paths = [(sanitize_key(name), compile_json_path(expr)) for name, expr in stage.params]

    def parse_some(row: Row) -> bool:
        obj = _load_json_object(row)
        if obj is None:
            return True
        for name, path in paths:
            value = _json_lookup(obj, path)
            row.set_parsed(name, "" if value is None else _json_scalar(value))
        return True

    return parse_some


def unpack_stage(_: ast.UnpackParser) -> StageFn:
    def unpack(row: Row) -> bool:
        obj = _load_json_object(row)
        if obj is None:
            return True
        for key, value in obj.items():
            if not isinstance(value, str):
                continue
            if key == "_entry":
                row.line = value
            else:
                row.set_parsed(sanitize_key(key), value)
        return True

    return unpack


_LOGFMT = re.compile(r'\s*([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?')


def parse_logfmt(line: str, strict: bool) -> list[tuple[str, str]]:
    """logfmt pairs; ValueError on malformed input (only raised in strict mode)."""
    out: list[tuple[str, str]] = []
    pos = 0
    n = len(line)
    while pos < n:
        if line[pos].isspace():
            pos += 1
            continue
        match = _LOGFMT.match(line, pos)
        if not match or match.end() == pos:
            if strict:
                raise ValueError(f"logfmt syntax error at pos {pos + 1}")
            nxt = line.find(" ", pos)
            pos = n if nxt < 0 else nxt + 1
            continue
        key, raw = match.group(1), match.group(2)
        if raw is None:
            value = ""
        elif raw.startswith('"'):
            try:
                value = json.loads(raw)
            except ValueError:
                if strict:
                    raise ValueError(f"logfmt syntax error: bad quoted value for {key}") from None
                value = raw[1:-1]
        else:
            value = raw
        out.append((key, value))
        pos = match.end()
    return out


def logfmt_stage(stage: ast.LogfmtParser) -> StageFn:
    wanted = {expr: sanitize_key(name) for name, expr in stage.params}

    def parse(row: Row) -> bool:
        try:
            pairs = parse_logfmt(row.line, stage.strict)
        except ValueError as exc:
            row.set_error("LogfmtParserErr", str(exc))
            return True
        for key, value in pairs:
            if wanted:
                if key not in wanted:
                    continue
                name = wanted[key]
            else:
                name = sanitize_key(key)
            if value == "" and not stage.keep_empty:
                continue
            row.set_parsed(name, value)
        return True

    return parse


_PATTERN_CAPTURE = re.compile(r"<(_|[A-Za-z_][A-Za-z0-9_]*)>")


def compile_pattern(pattern: str) -> tuple[Any, list[str]]:
    """Loki's pattern parser: literals and ``<name>`` captures (``<_>`` skips).

    A capture takes the shortest text up to the next literal; a trailing capture takes the
    rest of the line; a trailing literal need not end the line.
    """
    parts = _PATTERN_CAPTURE.split(pattern)
    # parts alternate literal, capture, literal, ...
    names = [parts[i] for i in range(1, len(parts), 2)]
    if not any(n != "_" for n in names):
        raise QueryError("at least one named capture must be supplied")
    if len(set(n for n in names if n != "_")) != len([n for n in names if n != "_"]):
        raise QueryError("duplicate capture name")
    regex = ["^"]
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex.append(re.escape(part))
            continue
        if i > 1 and parts[i - 1] == "":
            raise QueryError("consecutive capture not allowed")
        last = i == len(parts) - 2 and parts[-1] == ""
        group = "(.*)" if last else "(.*?)"
        regex.append(group)
    options = re2.Options()
    options.dot_nl = True
    options.log_errors = False
    return re2.compile("".join(regex), options), names


def pattern_stage(stage: ast.PatternParser) -> StageFn:
    compiled, names = compile_pattern(stage.pattern)

    def parse(row: Row) -> bool:
        match = compiled.search(row.line)
        if match is not None:
            for name, value in zip(names, match.groups(), strict=True):
                if name != "_":
                    row.set_parsed(name, value)
        return True

    return parse


def regexp_stage(stage: ast.RegexpParser) -> StageFn:
    options = re2.Options()
    options.log_errors = False
    compiled = re2.compile(stage.regex, options)
    names = sorted(compiled.groupindex.items(), key=lambda kv: kv[1])

    def parse(row: Row) -> bool:
        match = compiled.search(row.line)
        if match is not None:
            for name, index in names:
                value = match.group(index)
                row.set_parsed(sanitize_key(name), value or "")
        return True

    return parse


# ------------------------------------------------------------------------ label filters


def _compare(op: str, a: float, b: float) -> bool:
    if op in ("=", "=="):
        return a == b
    if op == "!=":
        return a != b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "<":
        return a < b
    return a <= b


_CONVERT: dict[str, Callable[[str], float]] = {
    "number": float,
    "duration": parse_go_duration_s,
    "bytes": parse_bytes,
}


def label_filter_fn(expr: ast.LabelFilterExpr) -> StageFn:
    if isinstance(expr, ast.StringLabelFilter):
        matcher = expr.matcher
        return lambda row: matcher.matches(row.labels.get(matcher.name))
    if isinstance(expr, ast.IpLabelFilter):
        within = ip_value_test(expr.pattern)
        ip_name, negate = expr.name, expr.op == "!="
        return lambda row: within(row.labels.get(ip_name, "")) != negate
    if isinstance(expr, ast.NumberLabelFilter):
        name, op, convert = expr.name, expr.op, _CONVERT[expr.kind]
        want = expr.value / 1e9 if expr.kind == "duration" else expr.value

        def number(row: Row) -> bool:
            if ERROR in row.labels:
                return True
            raw = row.labels.get(name)
            if raw is None:
                return False
            try:
                got = convert(raw)
            except ValueError as exc:
                row.set_error("LabelFilterErr", str(exc))
                return True
            return _compare(op, got, want)

        return number
    left, right = label_filter_fn(expr.left), label_filter_fn(expr.right)
    if isinstance(expr, ast.AndLabelFilter):
        return lambda row: left(row) and right(row)
    return lambda row: left(row) or right(row)


# ------------------------------------------------------------------------ formatting


def line_format_stage(stage: ast.LineFormat) -> StageFn:
    template = compile_template(stage.template)

    def fmt(row: Row) -> bool:
        row.line = template.render(row.labels, row.line, row.ts)
        return True

    return fmt


def label_format_stage(stage: ast.LabelFormat) -> StageFn:
    items = [
        (item.dst, compile_template(item.src) if item.is_template else None, item.src)
        for item in stage.items
    ]

    def fmt(row: Row) -> bool:
        before = dict(row.labels)
        for dst, template, src in items:
            if template is None:
                value = before.get(src, "")
                row.remove(src)
            else:
                value = template.render(before, row.line, row.ts)
            row.remove(dst)
            row.labels[dst] = value
            row.parsed.add(dst)
        return True

    return fmt


def _item_matches(item: ast.DropKeepItem, row: Row) -> bool:
    value = row.labels.get(item.name)
    if value is None:
        return False
    return item.matcher is None or item.matcher.matches(value)


def drop_stage(stage: ast.Drop) -> StageFn:
    def drop(row: Row) -> bool:
        for item in stage.items:
            if _item_matches(item, row):
                row.remove(item.name)
                if item.name == ERROR:
                    row.remove(ERROR_DETAILS)
        return True

    return drop


def keep_stage(stage: ast.Keep) -> StageFn:
    def keep(row: Row) -> bool:
        wanted = {item.name for item in stage.items if _item_matches(item, row)}
        for name in list(row.labels):
            if name not in wanted:
                row.remove(name)
        return True

    return keep


def decolorize_stage(_: ast.Decolorize) -> StageFn:
    def decolorize(row: Row) -> bool:
        row.line = _ANSI.sub("", row.line)
        return True

    return decolorize


def compile_stage(stage: ast.Stage) -> StageFn:
    if isinstance(stage, ast.LineFilter):
        test = line_filter_fn(stage)
        return lambda row: test(row.line)
    if isinstance(stage, ast.LabelFilter):
        return label_filter_fn(stage.expr)
    builders: dict[type, Callable[[Any], StageFn]] = {
        ast.JsonParser: json_stage,
        ast.LogfmtParser: logfmt_stage,
        ast.PatternParser: pattern_stage,
        ast.RegexpParser: regexp_stage,
        ast.UnpackParser: unpack_stage,
        ast.LineFormat: line_format_stage,
        ast.LabelFormat: label_format_stage,
        ast.Drop: drop_stage,
        ast.Keep: keep_stage,
        ast.Decolorize: decolorize_stage,
    }
    return builders[type(stage)](stage)


class Pipeline:
    """A compiled stage list; ``run`` returns the row, or None when a filter dropped it."""

    def __init__(self, stages: tuple[ast.Stage, ...]) -> None:
        self.fns = [compile_stage(s) for s in stages]

    def run(self, row: Row) -> Row | None:
        for fn in self.fns:
            if not fn(row):
                return None
        return row


def _drops_only_errors(stage: ast.Stage) -> bool:
    return isinstance(stage, ast.Drop) and all(
        item.name in (ERROR, ERROR_DETAILS) and item.matcher is None for item in stage.items
    )


def pushable_contains(stages: tuple[ast.Stage, ...]) -> tuple[list[str], bool]:
    """Substrings every matching raw line must contain, and whether they are all the filters.

    Only ``|= "x"`` filters before any stage that rewrites the line qualify; the second
    value is True when nothing else would run (so the store's ``limit`` can apply).
    """
    needles: list[str] = []
    only_filters = True
    for stage in stages:
        if (
            isinstance(stage, ast.LineFilter)
            and stage.op == "|="
            and len(stage.values) == 1
            and not stage.ip
        ):
            if stage.values[0]:
                needles.append(stage.values[0])
            continue
        if only_filters and _drops_only_errors(stage):
            continue  # nothing before it can have set __error__: a no-op (Grafana adds it)
        only_filters = False
        if isinstance(stage, ast.LineFormat | ast.Decolorize | ast.UnpackParser):
            break
    return needles, only_filters
