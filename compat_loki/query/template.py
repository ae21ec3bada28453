"""The Go text/template subset LogQL's ``line_format`` and ``label_format`` accept. Pure.

Grafana users write ``{{.label}}``, ``{{ .a | ToUpper }}``, ``{{ __line__ }}``,
``{{ __timestamp__ }}``, ``{{ if .x }}…{{ else }}…{{ end }}`` and a handful of Sprig-style
functions (the table ``FUNCTIONS``; Loki's list is longer, these are the ones seen in real
dashboards). A missing label renders as the empty string (Loki runs templates with
``missingkey=zero``). Anything else is a ``QueryError`` at parse time, never at run time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import QueryError
from core.lazyre2 import re2

_ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<field>\.[A-Za-z_][A-Za-z0-9_]*|\.)
      | (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<pipe>\|)
      | (?P<lparen>\()
      | (?P<rparen>\))
    )""",
    re.VERBOSE,
)
Value = Any


def _s(v: Value) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return "" if v is None else str(v)


def _go_title(text: str) -> str:
    """Go's strings.Title: upper-case letters that follow a separator (not letter/digit/_)."""
    out = []
    prev = " "
    for ch in text:
        out.append(ch.upper() if not (prev.isalnum() or prev == "_") else ch)
        prev = ch
    return "".join(out)


def _num(v: Value) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def _b64dec(s: Value) -> str:
    try:
        return base64.b64decode(_s(s)).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


MAX_OUTPUT = 256 * 1024  # Loki's default max line size; templates cannot make more


def _printf(fmt: Value, *args: Value) -> str:
    py = re.sub(r"%[-+# 0]*\d*(?:\.\d+)?v", "%s", _s(fmt))
    if re.search(r"%[-+# 0]*\d{4,}|\.\d{4,}", py):
        return _s(fmt)  # widths/precisions of 1000+ only serve to exhaust memory
    try:
        return py % tuple(args)
    except (TypeError, ValueError, OverflowError):
        return _s(fmt)


def _repeat(n: Value, s: Value) -> str:
    text = _s(s)
    count = max(0, int(_num(n)))
    if text and count * len(text) > MAX_OUTPUT:
        count = MAX_OUTPUT // len(text)
    return text * min(count, MAX_OUTPUT)


def _regex_replace(literal: bool) -> Callable[[Value, Value, Value], str]:
    def fn(regex: Value, src: Value, repl: Value) -> str:
        try:
            compiled = re2.compile(_s(regex))
        except re2.error:
            return _s(src)
        replacement = _s(repl)
        if literal:
            return str(compiled.sub(lambda _m: replacement, _s(src)))
        go_style = re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", replacement)
        try:
            return str(compiled.sub(go_style, _s(src)))
        except (re2.error, IndexError, KeyError):
            return _s(src)

    return fn


def _substr(start: Value, end: Value, s: Value) -> str:
    text = _s(s)
    a, b = int(_num(start)), int(_num(end))
    if a < 0:
        a = 0
    if b < 0 or b > len(text):
        b = len(text)
    return text[a:b] if a <= b else ""


def _unix_to_time(ts: Value) -> str:
    try:
        return datetime.fromtimestamp(_num(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return ""


FUNCTIONS: dict[str, Callable[..., Value]] = {
    "ToLower": lambda s: _s(s).lower(),
    "ToUpper": lambda s: _s(s).upper(),
    "lower": lambda s: _s(s).lower(),
    "upper": lambda s: _s(s).upper(),
    "title": lambda s: _go_title(_s(s)),
    "trim": lambda s: _s(s).strip(),
    "trimSpace": lambda s: _s(s).strip(),
    "TrimSpace": lambda s: _s(s).strip(),
    "trimAll": lambda cut, s: _s(s).strip(_s(cut)),
    "trimLeft": lambda cut, s: _s(s).lstrip(_s(cut)),
    "trimRight": lambda cut, s: _s(s).rstrip(_s(cut)),
    "trimPrefix": lambda p, s: _s(s).removeprefix(_s(p)),
    "trimSuffix": lambda p, s: _s(s).removesuffix(_s(p)),
    "TrimPrefix": lambda s, p: _s(s).removeprefix(_s(p)),
    "TrimSuffix": lambda s, p: _s(s).removesuffix(_s(p)),
    "replace": lambda old, new, s: _s(s).replace(_s(old), _s(new)),
    "Replace": lambda s, old, new, n: _s(s).replace(_s(old), _s(new), int(_num(n))),
    "substr": _substr,
    "default": lambda d, v=None: v if _s(v) != "" else d,
    "contains": lambda sub, s: _s(sub) in _s(s),
    "hasPrefix": lambda p, s: _s(s).startswith(_s(p)),
    "hasSuffix": lambda p, s: _s(s).endswith(_s(p)),
    "regexReplaceAll": _regex_replace(literal=False),
    "regexReplaceAllLiteral": _regex_replace(literal=True),
    "repeat": _repeat,
    "urlencode": lambda s: urllib.parse.quote_plus(_s(s)),
    "urldecode": lambda s: urllib.parse.unquote_plus(_s(s)),
    "b64enc": lambda s: base64.b64encode(_s(s).encode()).decode(),
    "b64dec": _b64dec,
    "printf": _printf,
    "len": lambda s: len(_s(s)),
    "add": lambda a, b: _num(a) + _num(b),
    "sub": lambda a, b: _num(a) - _num(b),
    "mul": lambda a, b: _num(a) * _num(b),
    "div": lambda a, b: _num(a) / _num(b) if _num(b) else 0.0,
    "mod": lambda a, b: _num(a) % _num(b) if _num(b) else 0.0,
    "unixEpoch": lambda s: s,
    "unixToTime": _unix_to_time,
    "alignLeft": lambda n, s: _s(s)[: int(_num(n))].ljust(int(_num(n))),
    "alignRight": lambda n, s: _s(s)[-int(_num(n)) :].rjust(int(_num(n))) if _num(n) > 0 else "",
    "eq": lambda a, b: _s(a) == _s(b),
    "ne": lambda a, b: _s(a) != _s(b),
    "not": lambda a: not _truthy(a),
    "and": lambda a, b: b if _truthy(a) else a,
    "or": lambda a, b: a if _truthy(a) else b,
}


def _truthy(v: Value) -> bool:
    if isinstance(v, str):
        return v != ""
    return bool(v)


@dataclass(frozen=True)
class _Arg:
    kind: str  # field, string, number, line, timestamp, sub
    value: Any


@dataclass(frozen=True)
class _Command:
    func: str | None
    args: tuple[_Arg, ...]


_Pipeline = tuple[_Command, ...]


@dataclass
class _If:
    cond: _Pipeline
    then: list[Any]
    otherwise: list[Any]


class Context:
    __slots__ = ("labels", "line", "size", "ts_ns")

    def __init__(self, labels: Mapping[str, str], line: str, ts_ns: int) -> None:
        self.labels = labels
        self.line = line
        self.ts_ns = ts_ns
        self.size = 0


class _Full(Exception):
    """The output reached MAX_OUTPUT: stop rendering."""


class Template:
    def __init__(self, nodes: list[Any], fields: frozenset[str]) -> None:
        self.nodes = nodes
        self.fields = fields  # label names the template reads

    def render(self, labels: Mapping[str, str], line: str, ts_ns: int) -> str:
        out: list[str] = []
        with contextlib.suppress(_Full):
            _render(self.nodes, Context(labels, line, ts_ns), out)
        text = "".join(out)
        return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT]


def _render(nodes: Sequence[Any], ctx: Context, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, _If):
            branch = node.then if _truthy(_eval_pipeline(node.cond, ctx)) else node.otherwise
            _render(branch, ctx, out)
            continue
        text = node if isinstance(node, str) else _s(_eval_pipeline(node, ctx))
        out.append(text)
        ctx.size += len(text)
        if ctx.size > MAX_OUTPUT:
            raise _Full


def _eval_arg(arg: _Arg, ctx: Context) -> Value:
    if arg.kind == "field":
        return ctx.labels.get(arg.value, "") if arg.value else dict(ctx.labels)
    if arg.kind == "line":
        return ctx.line
    if arg.kind == "timestamp":
        return datetime.fromtimestamp(ctx.ts_ns / 1e9, UTC).isoformat()
    if arg.kind == "sub":
        return _eval_pipeline(arg.value, ctx)
    return arg.value


def _eval_pipeline(pipeline: _Pipeline, ctx: Context) -> Value:
    value: Value = None
    for i, cmd in enumerate(pipeline):
        args = [_eval_arg(a, ctx) for a in cmd.args]
        if i > 0:
            args.append(value)
        if cmd.func is None:
            value = args[0] if args else value
        else:
            try:
                value = FUNCTIONS[cmd.func](*args)
            except (TypeError, ValueError, ArithmeticError):
                value = ""
    return value


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    from compat_loki.query.lexer import Lexer

    lexer = Lexer(text)
    return lexer._quoted()


def _parse_pipeline(text: str) -> tuple[_Pipeline, set[str]]:
    pos = 0
    fields: set[str] = set()
    commands: list[_Command] = []
    stack: list[list[_Arg]] = [[]]
    funcs: list[str | None] = [None]
    pending: list[list[_Command]] = [[]]

    def close_command() -> None:
        args = tuple(stack[-1])
        func = funcs[-1]
        if func is None and len(args) != 1 and not (args == () and pending[-1]):
            raise QueryError(f"template: bad command in {{{{{text}}}}}")
        pending[-1].append(_Command(func, args))
        stack[-1] = []
        funcs[-1] = None

    while True:
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip():
                raise QueryError(f"template: unexpected {text[pos:].strip()[:20]!r}")
            break
        pos = match.end()
        kind = match.lastgroup
        tok = match.group(kind or "")
        if kind == "field":
            name = tok[1:]
            fields.add(name)
            stack[-1].append(_Arg("field", name))
        elif kind == "string":
            try:
                stack[-1].append(_Arg("string", _unquote(tok)))
            except QueryError:
                raise QueryError(f"template: bad string {tok[:20]}") from None
        elif kind == "number":
            stack[-1].append(_Arg("number", float(tok)))
        elif kind == "ident":
            if tok == "__line__":
                stack[-1].append(_Arg("line", None))
            elif tok == "__timestamp__":
                stack[-1].append(_Arg("timestamp", None))
            elif tok in ("true", "false"):
                stack[-1].append(_Arg("number", tok == "true"))
            elif tok in FUNCTIONS and not stack[-1] and funcs[-1] is None:
                funcs[-1] = tok
            else:
                raise QueryError(f'template: function "{tok}" not defined')
        elif kind == "pipe":
            close_command()
        elif kind == "lparen":
            stack.append([])
            funcs.append(None)
            pending.append([])
        elif kind == "rparen":
            if len(stack) == 1:
                raise QueryError("template: unexpected )")
            close_command()
            sub = tuple(pending.pop())
            stack.pop()
            funcs.pop()
            stack[-1].append(_Arg("sub", sub))
    if len(stack) != 1:
        raise QueryError("template: unclosed (")
    if stack[-1] or funcs[-1] is not None:
        close_command()
    commands = pending[0]
    if not commands:
        raise QueryError("template: missing value for command")
    return tuple(commands), fields


@functools.lru_cache(maxsize=512)
def compile_template(text: str) -> Template:
    """Parse a template once; raises ``QueryError`` for anything outside the subset."""
    root: list[Any] = []
    stack: list[tuple[list[Any], _If | None]] = [(root, None)]
    fields: set[str] = set()
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(text):
        literal = text[pos : match.start()]
        if trim_next:
            literal = literal.lstrip()
        if match.group(1):
            literal = literal.rstrip()
        if literal:
            stack[-1][0].append(literal)
        pos = match.end()
        trim_next = bool(match.group(3))
        body = match.group(2).strip()
        if body.startswith("/*"):
            continue
        word = body.split(None, 1)[0] if body else ""
        if word == "if":
            cond, used = _parse_pipeline(body[2:])
            fields |= used
            node = _If(cond, [], [])
            stack[-1][0].append(node)
            stack.append((node.then, node))
        elif word == "else":
            if stack[-1][1] is None:
                raise QueryError("template: unexpected {{else}}")
            node_if = stack[-1][1]
            stack[-1] = (node_if.otherwise, node_if)
        elif word == "end":
            if len(stack) == 1:
                raise QueryError("template: unexpected {{end}}")
            stack.pop()
        elif word in ("range", "with", "define", "template", "block"):
            raise QueryError(f"template: {{{{{word}}}}} is not supported")
        else:
            pipeline, used = _parse_pipeline(body)
            fields |= used
            stack[-1][0].append(pipeline)
    tail = text[pos:]
    if trim_next:
        tail = tail.lstrip()
    if "{{" in tail:
        raise QueryError("template: unclosed action")
    if tail:
        stack[-1][0].append(tail)
    if len(stack) != 1:
        raise QueryError("template: unexpected EOF (missing {{end}})")
    return Template(root, frozenset(fields))
