"""Runner for LogQL behaviour cases in ``testdata/*.test`` (the PromQL ``load``/``eval``
format of ../shared/peer-tests/promql/SOURCE.md, adapted to log lines).

Commands (blocks end at a blank line; ``#`` starts a comment line):

    load
        {container="app", level="info"} 10s  a log line, the rest of the line verbatim
        {container="app"} 0+15sx3  the same line at 0, 15s, 30s and 45s
        {app="x"} 5s [trace_id=abc user=7]  a line with structured metadata

    clear

    eval logs from <start> to <end> [limit N] [direction forward|backward] <query>
        {labels} <time> <line>          one per expected entry, in the expected order
                                        (streams sorted by labels, entries by direction)

    eval instant at <time> <query>
        {labels} <value>               (order ignored unless `expect ordered`); or a scalar

    eval range from <start> to <end> step <step> <query>
        {labels} <v> <v> _ <v>          one value per step (`_` = no point; `axN`, `a+bxN`)

    expect fail [msg: <exact text> | regex: <re>]
    expect ordered

Times are Prometheus durations from t = 0 (1970-01-01); log queries read [start, end).
Data is loaded through the real store (``insert_entries``) into a real SQLite file.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from compat_loki.query.engine import Engine, QueryParams
from compat_loki.query.parser import parse
from compat_loki.query.reader import LogReader
from compat_loki.query.results import MatrixResult, ScalarResult, StreamsResult, VectorResult
from compat_loki.records import LogRecord
from compat_loki.store import StoreReader, insert_entries
from core.errors import AppError
from core.labels import Labels
from core.timeparse import parse_duration_ms

_LABELS = re.compile(r'^(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})\s*(.*)$')
_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*("(?:[^"\\]|\\.)*")')
_REPEAT = re.compile(r"^(\S+?)\+(\S+?)x(\d+)$")
_META = re.compile(r"^\[([^\]]*)\]\s*(.*)$")


def t_ns(text: str) -> int:
    return parse_duration_ms(text) * 1_000_000


def parse_labels(text: str) -> tuple[Labels, str]:
    match = _LABELS.match(text.strip())
    if not match:
        raise ValueError(f"expected {{labels}} at {text!r}")
    pairs = [(k, json.loads(v)) for k, v in _PAIR.findall(match.group(1))]
    return Labels(pairs), match.group(2)


def expand_values(tokens: list[str]) -> list[float | None]:
    out: list[float | None] = []
    for tok in tokens:
        if tok == "_":
            out.append(None)
            continue
        match = re.fullmatch(r"(-?[\d.e+]+|NaN|[+-]?Inf)([+-])([\d.e]+)x(\d+)", tok)
        if match:
            start, sign, step, n = match.groups()
            delta = float(step) * (1 if sign == "+" else -1)
            out.extend(float(start) + i * delta for i in range(int(n) + 1))
            continue
        match = re.fullmatch(r"(\S+)x(\d+)", tok)
        if match:
            value = None if match.group(1) == "_" else float(match.group(1))
            out.extend([value] * (int(match.group(2)) + (0 if value is None else 1)))
            continue
        out.append(float(tok))
    return out


def close(a: float, b: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


@dataclass
class Case:
    line_no: int
    command: str
    body: list[str] = field(default_factory=list)


def read_cases(path: Path) -> list[Case]:
    cases: list[Case] = []
    current: Case | None = None
    for no, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            current = None
            continue
        if current is None:
            current = Case(no, line)
            cases.append(current)
        else:
            current.body.append(line)
    return cases


def load(conn: sqlite3.Connection, lines: list[str]) -> None:
    records: list[LogRecord] = []
    for text in lines:
        labels, rest = parse_labels(text)
        when, _, log_line = rest.partition(" ")
        log_line = log_line.strip()
        metadata: tuple[tuple[str, str], ...] = ()
        meta = _META.match(log_line)
        if meta:
            metadata = tuple(
                (k, v) for k, _, v in (p.partition("=") for p in meta.group(1).split())
            )
            log_line = meta.group(2)
        repeat = _REPEAT.match(when)
        times = (
            [
                t_ns(repeat.group(1)) + i * t_ns(repeat.group(2))
                for i in range(int(repeat.group(3)) + 1)
            ]
            if repeat
            else [t_ns(when)]
        )
        records.extend(LogRecord(labels, ts, log_line, metadata=metadata) for ts in times)
    conn.execute("BEGIN IMMEDIATE")
    insert_entries(conn, records)
    conn.execute("COMMIT")


def clear(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    ids = [r[0] for r in conn.execute("SELECT id FROM entries")]
    from compat_loki import store

    store.trim(conn, 0, batch=len(ids) + 1)
    conn.execute("DELETE FROM streams")
    conn.execute("COMMIT")


def _expect(case: Case) -> tuple[bool, str | None, str | None, bool, list[str]]:
    fail, msg, regex, ordered, rest = False, None, None, False, []
    for line in case.body:
        if line.startswith("expect fail"):
            fail = True
            tail = line[len("expect fail") :].strip()
            if tail.startswith("msg:"):
                msg = tail[4:].strip()
            elif tail.startswith("regex:"):
                regex = tail[6:].strip()
        elif line == "expect ordered":
            ordered = True
        else:
            rest.append(line)
    return fail, msg, regex, ordered, rest


_LOGS = re.compile(
    r"^eval logs from (\S+) to (\S+)((?: (?:limit \d+|direction (?:forward|backward)))*) (.+)$"
)
_INSTANT = re.compile(r"^eval instant at (\S+) (.+)$")
_RANGE = re.compile(r"^eval range from (\S+) to (\S+) step (\S+) (.+)$")


class EntriesOnly:
    """The store's reader without its optional ``bucket_counts`` (the engine's fallback)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        inner = StoreReader(conn)
        self.streams = inner.streams
        self.entries = inner.entries
        self.label_names = inner.label_names
        self.label_values = inner.label_values


ReaderFactory = Callable[[sqlite3.Connection], LogReader]


def run_eval(
    conn: sqlite3.Connection, case: Case, reader: ReaderFactory = StoreReader
) -> str | None:
    """Run one eval; the failure description, or None when it passed."""
    fail, msg, regex, ordered, expected = _expect(case)
    engine = Engine(reader(conn))
    steps: list[int] = []
    try:
        if m := _LOGS.match(case.command):
            opts = m.group(3)
            limit = int(re.search(r"limit (\d+)", opts).group(1)) if "limit" in opts else 100  # type: ignore[union-attr]
            direction = "forward" if "direction forward" in opts else "backward"
            params = QueryParams(t_ns(m.group(1)), t_ns(m.group(2)), 1, direction, limit)  # type: ignore[arg-type]
            result = engine.range_query(parse(m.group(4)), params)
        elif m := _INSTANT.match(case.command):
            result = engine.instant_query(parse(m.group(2)), t_ns(m.group(1)))
        elif m := _RANGE.match(case.command):
            params = QueryParams(t_ns(m.group(1)), t_ns(m.group(2)), t_ns(m.group(3)))
            result = engine.range_query(parse(m.group(4)), params)
        else:
            return f"unknown command {case.command!r}"
    except AppError as exc:
        if not fail:
            return f"unexpected error: {exc.message}"
        if msg is not None and exc.message != msg:
            return f"error {exc.message!r} != expected {msg!r}"
        if regex is not None and not re.search(regex, exc.message):
            return f"error {exc.message!r} does not match {regex!r}"
        return None
    if fail:
        return "expected an error, got a result"
    if m := _RANGE.match(case.command):
        steps = list(range(t_ns(m.group(1)), t_ns(m.group(2)) + 1, t_ns(m.group(3))))
    return _compare(result, expected, ordered, steps)


def _compare(result: object, expected: list[str], ordered: bool, steps: list[int]) -> str | None:
    if isinstance(result, StreamsResult):
        got = [
            f"{labels!r} {ln.ts_ns} {ln.line}" for labels, lines in result.streams for ln in lines
        ]
        want = []
        for text in expected:
            labels, rest = parse_labels(text)
            when, _, line = rest.partition(" ")
            want.append(f"{labels!r} {t_ns(when)} {line.strip()}")
        return None if got == want else f"logs differ:\n got: {got}\nwant: {want}"
    if isinstance(result, ScalarResult):
        if len(expected) != 1 or not close(result.value, float(expected[0])):
            return f"scalar {result.value} != {expected}"
        return None
    if isinstance(result, VectorResult):
        got_v = [(labels, value) for labels, _, value in result.samples]
        want_v = []
        for text in expected:
            labels, rest = parse_labels(text)
            want_v.append((labels, float(rest)))
        if not ordered:
            got_v.sort(key=lambda s: s[0].items_tuple)
            want_v.sort(key=lambda s: s[0].items_tuple)
        same = len(got_v) == len(want_v) and all(
            g[0] == w[0] and close(g[1], w[1]) for g, w in zip(got_v, want_v, strict=True)
        )
        return None if same else f"vector differs:\n got: {got_v}\nwant: {want_v}"
    assert isinstance(result, MatrixResult)
    got_m = {labels: pts for labels, pts in result.series}
    want_m: dict[Labels, list[float | None]] = {}
    for text in expected:
        labels, rest = parse_labels(text)
        want_m[labels] = expand_values(rest.split())
    if set(got_m) != set(want_m):
        return (
            f"series differ:\n got: {sorted(map(repr, got_m))}\nwant: {sorted(map(repr, want_m))}"
        )
    for labels, want_pts in want_m.items():
        pts = dict(got_m[labels])
        dense = [pts.get(t) for t in steps]
        if len(want_pts) != len(dense) or not all(
            (a is None and b is None) or (a is not None and b is not None and close(a, b))
            for a, b in zip(dense, want_pts, strict=True)
        ):
            return f"{labels!r}: got {dense}, want {want_pts}"
    return None


def run_file(
    conn: sqlite3.Connection, path: Path, reader: ReaderFactory = StoreReader
) -> list[str]:
    failures: list[str] = []
    evals = 0
    for case in read_cases(path):
        if case.command == "load":
            load(conn, case.body)
        elif case.command == "clear":
            clear(conn)
        elif case.command.startswith("eval"):
            evals += 1
            problem = run_eval(conn, case, reader)
            if problem:
                failures.append(f"{path.name}:{case.line_no}: {case.command}\n  {problem}")
        else:
            failures.append(f"{path.name}:{case.line_no}: unknown command {case.command!r}")
    if evals == 0:
        failures.append(f"{path.name}: no eval cases")
    return failures
