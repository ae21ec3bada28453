"""Runs Prometheus' conformance files against our engine on a real SQLite store.

Each ``load`` goes through ``store.append_samples`` into a migrated metrics database (a
copy of one migrated template per ``clear``, so 100+ clears stay fast), and each ``eval``
reads through ``store.StoreReader``. Outcomes are ``pass``, ``fail: why`` or
``skip: why``; the pytest module decides which failures are allowed (the reasoned list).
"""

from __future__ import annotations

import math
import re
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from compat_prom import store
from compat_prom.query.ast import MatrixSel, VectorSel, parse
from compat_prom.query.engine import Limits, Result, run_instant, run_range
from compat_prom.query.values import is_stale
from compat_prom.service import HEAD, MIGRATIONS
from core import migrations
from core.db import connect, prepare_file
from core.errors import AppError
from core.labels import Labels
from tests.compat_prom.helpers import write
from tests.compat_prom.query.promqltest import Clear, Eval, Load, parse_file
from tests.conftest import SHARED

PEER_DIR = SHARED / "peer-tests" / "promql"

# Core PromQL files (SOURCE.md): native_histograms.test and the experimental-feature files
# (limit, extended_vectors, start_timestamps, duration_expression, fill-modifier, info,
# type_and_unit) are out of scope.
CORE_FILES = [
    "aggregators.test",
    "at_modifier.test",
    "collision.test",
    "functions.test",
    "histograms.test",
    "literals.test",
    "name_label_dropping.test",
    "operators.test",
    "range_queries.test",
    "selectors.test",
    "staleness.test",
    "subquery.test",
    "trig_functions.test",
]
NH_FUNCS = (
    "histogram_count",
    "histogram_sum",
    "histogram_avg",
    "histogram_stddev",
    "histogram_stdvar",
)
MAX_SAMPLES = 10_000  # upstream's DefaultMaxSamplesPerQuery for these files


@dataclass
class Outcome:
    line: int
    expr: str
    status: str  # pass | fail | skip
    reason: str = ""


@dataclass
class FileReport:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


class Store:
    """A fresh migrated metrics database per ``clear``, copied from one template."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.template = workdir / "template.db"
        if not self.template.exists():
            prepare_file(self.template)
            migrations.upgrade(self.template, MIGRATIONS, HEAD)
        self.n = 0
        self.w: sqlite3.Connection | None = None
        self.r: sqlite3.Connection | None = None
        self.reset()

    def reset(self) -> None:
        self.close()
        self.n += 1
        path = self.workdir / f"db{self.n}.db"
        shutil.copyfile(self.template, path)
        self.w = connect(path)
        self.r = connect(path, readonly=True)

    def close(self) -> None:
        for c in (self.w, self.r):
            if c is not None:
                c.close()
        self.w = self.r = None

    def load(self, cmd: Load) -> None:
        batch = [
            (labels, [t for t, _ in pts], [v for _, v in pts]) for labels, pts in cmd.series if pts
        ]
        assert self.w is not None
        write(self.w, lambda c: store.append_samples(c, batch))

    def reader(self) -> store.StoreReader:
        assert self.r is not None
        return store.StoreReader(self.r)


def _selectors(node: object) -> list[VectorSel]:
    found: list[VectorSel] = []

    def visit(n: object) -> None:
        if isinstance(n, VectorSel):
            found.append(n)
            return
        if isinstance(n, MatrixSel):
            found.append(n.vs)
            return
        for value in vars(n).values() if hasattr(n, "__dict__") else ():
            if isinstance(value, list):
                for item in value:
                    visit(item)
            elif hasattr(value, "__dict__"):
                visit(value)

    visit(node)
    return found


def _touches_nh(sel: VectorSel, nh_names: set[str]) -> bool:
    name_matchers = [m for m in sel.matchers if m.name == "__name__"]
    if not name_matchers:
        return bool(nh_names)
    return any(all(m.matches(n) for m in name_matchers) for n in nh_names)


def almost_equal(a: float, b: float) -> bool:
    if is_stale(a) or is_stale(b):
        return is_stale(a) and is_stale(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    min_normal = 2.2250738585072014e-308
    if a == 0 or b == 0 or abs_sum < min_normal:
        return diff < 1e-6 * min_normal
    return diff / min(abs_sum, 1.7976931348623157e308) < 1e-6


def _fmt(labels: Labels) -> str:
    return repr(labels)


def _check(ev: Eval, res: Result) -> str | None:
    """``None`` if the result meets the expectations, else what differs."""
    notes = res.annotations
    for kind, wanted, got, none in (
        ("warn", ev.warn, notes.warnings, ev.no_warn),
        ("info", ev.info, notes.infos, ev.no_info),
    ):
        if none and got:
            return f"unexpected {kind}: {got}"
        if wanted:
            if not got:
                return f"expected a {kind} annotation"
            for g in got:
                if not any(w is None or _note_matches(w, g) for w in wanted):
                    return f"{kind} {g!r} not expected ({wanted})"
    if ev.string is not None:
        if res.kind != "string" or res.string is None or res.string[1] != ev.string:
            return f"expected string {ev.string!r}, got {res.kind} {res.string}"
        return None
    if ev.scalar is not None:
        if res.kind != "scalar" or res.scalar is None:
            return f"expected scalar, got {res.kind}"
        if not almost_equal(ev.scalar, res.scalar[1]):
            return f"expected scalar {ev.scalar}, got {res.scalar[1]}"
        return None
    if ev.instant and ev.range_vector is None:
        if res.kind == "scalar":
            return f"expected vector, got scalar {res.scalar}"
        if res.kind != "vector":
            return f"expected vector, got {res.kind}"
        got_v = [(lbl, v) for lbl, _, v in res.vector]
        want = [(lbl, pts[0][1]) for lbl, pts in ev.expected]
        if len(got_v) != len(want):
            shown = [(_fmt(g), v) for g, v in got_v][:5]
            return f"expected {len(want)} series, got {len(got_v)}: {shown}"
        got_map = dict(got_v)
        for lbl, v in want:
            if lbl not in got_map:
                return f"missing series {_fmt(lbl)}; got {[_fmt(g) for g, _ in got_v][:5]}"
            assert v is not None
            if not almost_equal(v, got_map[lbl]):
                return f"{_fmt(lbl)}: expected {v}, got {got_map[lbl]}"
        if ev.ordered and [g for g, _ in got_v] != [w for w, _ in want]:
            return "wrong order"
        return None
    if res.kind != "matrix":
        return f"expected matrix, got {res.kind}"
    got_m = {lbl: list(zip(ts, vs, strict=True)) for lbl, ts, vs in res.matrix}
    want_m = {lbl: pts for lbl, pts in ev.expected}
    if set(got_m) != set(want_m):
        missing = [_fmt(x) for x in set(want_m) - set(got_m)][:3]
        extra = [_fmt(x) for x in set(got_m) - set(want_m)][:3]
        return f"series differ: missing {missing}, extra {extra}"
    for lbl, want_pts in want_m.items():
        got_pts = got_m[lbl]
        if [t for t, _ in got_pts] != [t for t, _ in want_pts]:
            got_t, want_t = [t for t, _ in got_pts][:8], [t for t, _ in want_pts][:8]
            return f"{_fmt(lbl)}: timestamps {got_t} != {want_t}"
        for (t, gv), (_, wv) in zip(got_pts, want_pts, strict=True):
            assert wv is not None
            if not almost_equal(wv, gv):
                return f"{_fmt(lbl)} @{t}: expected {wv}, got {gv}"
    return None


def _note_matches(want: str, got: str) -> bool:
    if want.startswith("re:"):
        return re.search(want[3:], got) is not None
    return got == want or re.sub(r" \(\d+:\d+\)$", "", want) == got


def _skip_reason(ev: Eval, nh_names: set[str], all_nh: bool) -> str | None:
    if ev.mentions_nh:
        return "native histogram (expected output holds {{...}})"
    if any(f + "(" in ev.expr for f in NH_FUNCS):
        return "native histogram function"
    try:
        node = parse(ev.expr)
    except AppError:
        return None
    if any(_touches_nh(sel, nh_names) for sel in _selectors(node)):
        return "native histogram series in the data"
    return None


def run_file(name: str, workdir: Path) -> FileReport:
    report = FileReport(name)
    commands = parse_file((PEER_DIR / name).read_text())
    db = Store(workdir)
    nh_names: set[str] = set()
    nhcb = False
    try:
        for cmd in commands:
            if isinstance(cmd, Clear):
                db.reset()
                nh_names = set()
                nhcb = False
                continue
            if isinstance(cmd, Load):
                db.load(cmd)
                nh_names |= {lbl.get("__name__") or "" for lbl in cmd.nh_series}
                if cmd.nh_series:
                    nhcb = True
                continue
            assert isinstance(cmd, Eval)
            report.outcomes.append(_run_eval(cmd, db, nh_names, nhcb))
    finally:
        db.close()
    return report


def _run_eval(ev: Eval, db: Store, nh_names: set[str], any_nh: bool) -> Outcome:
    reason = _skip_reason(ev, nh_names, any_nh)
    if reason:
        return Outcome(ev.line, ev.expr, "skip", reason)
    limits = Limits(max_samples=MAX_SAMPLES * 1000, timeout_s=20)
    try:
        node = parse(ev.expr)
        if ev.instant:
            res = run_instant(db.reader(), node, ev.at_ms, limits)
        else:
            res = run_range(db.reader(), node, ev.start_ms, ev.end_ms, ev.step_ms, limits)
    except AppError as exc:
        if not ev.fail:
            return Outcome(ev.line, ev.expr, "fail", f"error: {exc.message}")
        if ev.fail_msg is not None and exc.message != ev.fail_msg:
            return Outcome(
                ev.line, ev.expr, "fail", f"error text {exc.message!r} != {ev.fail_msg!r}"
            )
        if ev.fail_regex is not None and not re.search(ev.fail_regex, exc.message):
            return Outcome(
                ev.line, ev.expr, "fail", f"error text {exc.message!r} !~ {ev.fail_regex!r}"
            )
        return Outcome(ev.line, ev.expr, "pass")
    if ev.fail:
        return Outcome(ev.line, ev.expr, "fail", "expected an error")
    problem = _check(ev, res)
    if problem:
        return Outcome(ev.line, ev.expr, "fail", problem)
    if ev.instant and _range_comparable(ev, res):
        problem = _check_as_range(ev, res, db, limits)
        if problem:
            return Outcome(ev.line, ev.expr, "fail", f"as a range query: {problem}")
    return Outcome(ev.line, ev.expr, "pass")


_NON_STEP_INVARIANT = re.compile(r"\b(start|end|range|step)\(\)")


def _range_comparable(ev: Eval, res: Result) -> bool:
    """Upstream's second run: the instant query as a range query t-1m..t+1m, point at t."""
    if ev.ordered or ev.string is not None or ev.range_vector is not None:
        return False
    if res.kind not in ("vector", "scalar") or _NON_STEP_INVARIANT.search(ev.expr):
        return False
    return not ev.warn and not ev.info


def _check_as_range(ev: Eval, res: Result, db: Store, limits: Limits) -> str | None:
    t = ev.at_ms
    try:
        got = run_range(db.reader(), parse(ev.expr), t - 60_000, t + 60_000, 60_000, limits)
    except AppError as exc:
        return f"error: {exc.message}"
    at_t: dict[Labels, float] = {}
    for labels, stamps, values in got.matrix:
        for pt, v in zip(stamps, values, strict=True):
            if pt == t:
                at_t[labels] = v
    if res.kind == "scalar":
        want = {Labels(): res.scalar[1]} if res.scalar else {}
    else:
        want = {labels: v for labels, _, v in res.vector}
    if set(want) != set(at_t):
        return f"series differ: {sorted(map(repr, want))[:3]} vs {sorted(map(repr, at_t))[:3]}"
    for labels, v in want.items():
        if not almost_equal(v, at_t[labels]):
            return f"{labels!r}: {v} vs {at_t[labels]}"
    return None
