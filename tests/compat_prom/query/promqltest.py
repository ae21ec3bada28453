"""Reader for Prometheus' ``.test`` conformance format (see peer-tests/promql/SOURCE.md).

Written from the format description, not from upstream code. Produces plain commands
(``Load``, ``Clear``, ``Eval``) that the runner executes against our engine and store.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import promql_parser

from compat_prom.query.values import STALE_NAN
from core.labels import Labels
from core.timeparse import parse_duration_ms

NH = object()  # a native-histogram sample (we store floats only)


@dataclass
class Load:
    step_ms: int
    series: list[tuple[Labels, list[tuple[int, float]]]]
    nh_series: set[Labels]
    line: int


@dataclass
class Clear:
    line: int


@dataclass
class Eval:
    line: int
    expr: str
    instant: bool
    at_ms: int = 0
    start_ms: int = 0
    end_ms: int = 0
    step_ms: int = 0
    fail: bool = False
    fail_msg: str | None = None
    fail_regex: str | None = None
    ordered: bool = False
    warn: list[str | None] = field(default_factory=list)  # None = any
    info: list[str | None] = field(default_factory=list)
    no_warn: bool = False
    no_info: bool = False
    string: str | None = None
    range_vector: tuple[int, int, int] | None = None
    scalar: float | None = None
    # labels -> instant value, or list of (ts, value) for range results
    expected: list[tuple[Labels, list[tuple[int, float | None]]]] = field(default_factory=list)
    mentions_nh: bool = False


def duration(text: str) -> int:
    text = text.strip()
    neg = text.startswith("-")
    if neg:
        text = text[1:]
    ms = 0 if text in ("0", "") else parse_duration_ms(text)
    return -ms if neg else ms


def parse_number(tok: str) -> float:
    low = tok.lower()
    if low in ("inf", "+inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    if low in ("nan", "+nan", "-nan"):
        return math.nan
    if low.startswith(("0x", "-0x", "+0x")):
        return float(int(tok, 16))
    return float(tok)


_EXPAND = re.compile(
    r"^([-+]?[^x+\-]+|[-+]?(?:inf|nan)|[-+]?[0-9.eE+\-]+?)(?:([+-])([^x]+))?x(\d+)$", re.I
)


def expand_values(tokens: list[str]) -> list[float | object | None]:
    """The value notation of ``load`` and range expectations; ``None`` = no sample."""
    out: list[float | object | None] = []
    for tok in tokens:
        if tok.startswith("{{"):
            count = 1
            m = re.search(r"\}\}x(\d+)$", tok)
            if m:
                count = int(m.group(1)) + 1
            out.extend([NH] * count)
            continue
        if tok == "_":
            out.append(None)
            continue
        if tok.startswith("_x"):
            out.extend([None] * int(tok[2:]))
            continue
        if tok == "stale":
            out.append(STALE_NAN)
            continue
        if "x" in tok:
            body, times = tok.rsplit("x", 1)
            n = int(times)
            m = re.match(
                r"^([-+]?(?:[0-9.]+(?:e[-+]?\d+)?|inf|nan))([-+])([0-9.]+(?:e[-+]?\d+)?|inf|nan)$",
                body,
                re.I,
            )
            if m:
                start = parse_number(m.group(1))
                delta = parse_number(m.group(3)) * (1 if m.group(2) == "+" else -1)
                out.extend(start + delta * i for i in range(n + 1))
            else:
                out.extend([parse_number(body)] * (n + 1))
            continue
        out.append(parse_number(tok))
    return out


_TOKEN = re.compile(r"\{\{.*?\}\}(?:[-+]\{\{.*?\}\})?(?:x\d+)?|\S+")


def tokens(text: str) -> list[str]:
    """Value tokens; a native histogram ``{{...}}`` (with spaces inside) is one token."""
    return _TOKEN.findall(text)


def split_series(text: str) -> tuple[str, str]:
    """``metric{a="b c"} 1 2 3`` → (series text, rest), honouring quotes in braces."""
    text = text.strip()
    brace = text.find("{")
    space = re.search(r"\s", text)
    if brace < 0 or (space is not None and space.start() < brace):
        if space is None:
            return text, ""
        return text[: space.start()], text[space.start() :].strip()
    depth, quote, i = 0, "", brace
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[: i + 1], text[i + 1 :].strip()
        i += 1
    raise ValueError(f"unbalanced braces in {text!r}")


def parse_labels(text: str) -> Labels:
    text = text.strip()
    if text == "{}":
        return Labels()
    node = promql_parser.parse(text)
    items: dict[str, str] = {}
    if getattr(node, "name", None):
        items["__name__"] = node.name
    for m in node.matchers.matchers:
        items[m.name] = m.value
    return Labels(items)


def _strip_quotes(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"`'":
        inner = text[1:-1]
        if text[0] == '"':
            return bytes(inner, "utf-8").decode("unicode_escape") if "\\" in inner else inner
        return inner
    return text


_COMMAND = re.compile(
    r"^(load|load_with_nhcb|clear|eval|eval_fail|eval_warn|eval_info|eval_ordered)(\s|$)"
)


def parse_file(text: str) -> list[Load | Clear | Eval]:
    lines = text.split("\n")
    out: list[Load | Clear | Eval] = []
    i = 0
    while i < len(lines):
        raw = lines[i].strip()
        lineno = i + 1
        i += 1
        if not raw or raw.startswith("#"):
            continue
        block: list[str] = []
        while i < len(lines) and lines[i].strip() and not _COMMAND.match(lines[i].strip()):
            if not lines[i].strip().startswith("#"):
                block.append(lines[i].strip())
            i += 1
        word = raw.split()[0]
        if word in ("load", "load_with_nhcb"):
            out.append(_load(raw, block, lineno))
        elif word == "clear":
            out.append(Clear(lineno))
        elif word.startswith("eval"):
            out.append(_eval(raw, block, lineno))
        else:
            raise ValueError(f"line {lineno}: unknown command {word!r}")
    return out


def _load(head: str, block: list[str], lineno: int) -> Load:
    step = duration(head.split()[1])
    series: list[tuple[Labels, list[tuple[int, float]]]] = []
    nh: set[Labels] = set()
    for line in block:
        desc, rest = split_series(line)
        if desc.endswith("@st"):
            continue  # start timestamps (experimental), not modelled
        labels = parse_labels(desc)
        points: list[tuple[int, float]] = []
        for k, v in enumerate(expand_values(tokens(rest))):
            if v is NH:
                nh.add(labels)
                continue
            if v is None:
                continue
            assert isinstance(v, float)
            points.append((k * step, v))
        series.append((labels, points))
        name = labels.get("__name__") or ""
        if head.startswith("load_with_nhcb") and name.endswith("_bucket"):
            nh.add(Labels({"__name__": name[: -len("_bucket")]}))
    return Load(step, series, nh, lineno)


_INSTANT = re.compile(r"^instant\s+at\s+(\S+)\s+(.*)$")
_RANGE = re.compile(r"^range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.*)$")


def _eval(head: str, block: list[str], lineno: int) -> Eval:
    word, rest = head.split(None, 1)
    m = _INSTANT.match(rest)
    if m:
        ev = Eval(lineno, m.group(2).strip(), True, at_ms=duration(m.group(1)))
    else:
        m = _RANGE.match(rest)
        if not m:
            raise ValueError(f"line {lineno}: bad eval {head!r}")
        ev = Eval(
            lineno,
            m.group(4).strip(),
            False,
            start_ms=duration(m.group(1)),
            end_ms=duration(m.group(2)),
            step_ms=duration(m.group(3)),
        )
    if word == "eval_fail":
        ev.fail = True
    elif word == "eval_warn":
        ev.warn.append(None)
    elif word == "eval_info":
        ev.info.append(None)
    elif word == "eval_ordered":
        ev.ordered = True
    for line in block:
        if line.startswith("expected_fail_message"):
            ev.fail_msg = line.split(None, 1)[1].strip()
            continue
        if line.startswith("expected_fail_regexp"):
            ev.fail_regex = line.split(None, 1)[1].strip()
            continue
        if line.startswith("expect "):
            _expect(ev, line[len("expect ") :].strip())
            continue
        _result_line(ev, line)
    return ev


def _expect(ev: Eval, text: str) -> None:
    kind, _, rest = text.partition(" ")
    rest = rest.strip()
    msg: str | None = None
    if rest.startswith("msg:"):
        msg = rest[4:].strip()
    elif rest.startswith("regex:"):
        msg = "re:" + rest[6:].strip()
    if kind == "fail":
        ev.fail = True
        if msg is not None and msg.startswith("re:"):
            ev.fail_regex = msg[3:]
        else:
            ev.fail_msg = msg
    elif kind == "warn":
        ev.warn.append(msg)
    elif kind == "info":
        ev.info.append(msg)
    elif kind == "no_warn":
        ev.no_warn = True
    elif kind == "no_info":
        ev.no_info = True
    elif kind == "ordered":
        ev.ordered = True
    elif kind == "string":
        ev.string = _strip_quotes(rest)
    elif kind == "range":
        m = re.match(r"^vector\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)$", rest)
        if not m:
            raise ValueError(f"line {ev.line}: bad expect {text!r}")
        ev.range_vector = (duration(m.group(1)), duration(m.group(2)), duration(m.group(3)))
    else:
        raise ValueError(f"line {ev.line}: unknown expect {text!r}")


def _result_line(ev: Eval, line: str) -> None:
    first = line.split()[0]
    try:
        value = parse_number(first)
    except ValueError:
        value = None
    if value is not None and len(line.split()) == 1 and not first.startswith("{"):
        ev.scalar = value
        return
    desc, rest = split_series(line)
    if "{{" in rest:
        ev.mentions_nh = True
        return
    labels = parse_labels(desc)
    values = expand_values(tokens(rest))
    if ev.instant and ev.range_vector is None:
        v = values[0]
        assert v is None or isinstance(v, float)
        ev.expected.append((labels, [(ev.at_ms, v)]))
        return
    start, step = (
        (ev.range_vector[0], ev.range_vector[2]) if ev.range_vector else (ev.start_ms, ev.step_ms)
    )
    points: list[tuple[int, float | None]] = []
    for k, v in enumerate(values):
        if v is None:
            continue
        assert isinstance(v, float)
        points.append((start + k * step, v))
    ev.expected.append((labels, points))
