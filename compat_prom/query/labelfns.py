"""Label functions: ``label_replace``, ``label_join``, ``sort_by_label`` (and ``_desc``).

``label_replace`` expands ``$1``/``${name}`` as Go's ``regexp.Expand`` does, on an anchored
RE2 match. Series that end up with the same label set merge if they never overlap in time
(Prometheus 3 checks per step), otherwise the query fails with 422 as upstream does.
"""

from __future__ import annotations

import re
from functools import cmp_to_key
from typing import TYPE_CHECKING

from compat_prom.query.ast import Call, StringLit
from compat_prom.query.values import Num, Series, StringV, VectorV, any_present
from core.errors import QueryError, Unprocessable
from core.labels import Labels, compile_anchored

if TYPE_CHECKING:
    from compat_prom.query.engine import Evaluator

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _label_name_ok(name: str) -> bool:
    return _LABEL_NAME.match(name) is not None


def _expand(template: str, match: object, groups: dict[str, int]) -> str:
    """Go regexp ``Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out = []
    i = 0
    while i < len(template):
        c = template[i]
        if c != "$" or i + 1 >= len(template):
            out.append(c)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            end = template.find("}", i + 2)
            if end < 0:
                out.append(c)
                i += 1
                continue
            name = template[i + 2 : end]
            i = end + 1
        else:
            j = i + 1
            while j < len(template) and (template[j].isalnum() or template[j] == "_"):
                j += 1
            name = template[i + 1 : j]
            if not name:
                out.append(c)
                i += 1
                continue
            i = j
        out.append(_group(match, name, groups))
    return "".join(out)


def _group(match: object, name: str, groups: dict[str, int]) -> str:
    idx: int | None = int(name) if name.isdigit() else groups.get(name)
    if idx is None:
        return ""
    try:
        value = match.group(idx)  # type: ignore[attr-defined]
    except (IndexError, Exception):
        return ""
    return value or ""


def label_replace(ev: Evaluator, node: Call, ts: list[int]) -> VectorV:
    series = ev.vector_arg(node.args[0], ts)
    dst, repl, src, regex = (string_arg(ev, a, ts) for a in node.args[1:5])
    pattern = compile_anchored(regex)
    if not _label_name_ok(dst):
        raise QueryError(f"invalid destination label name in label_replace(): {dst}")
    groups = dict(pattern.groupindex) if hasattr(pattern, "groupindex") else {}
    out = []
    for s in series:
        m = pattern.match(s.labels.get(src) or "")
        if m is None:
            out.append(s)
            continue
        value = _expand(repl, m, groups)
        items = dict(s.labels.items_tuple)
        if value:
            items[dst] = value
        else:
            items.pop(dst, None)
        drop = s.drop_name and dst != "__name__"
        out.append(Series(Labels(items), s.values, drop))
    return VectorV(_merge_same(out))


def label_join(ev: Evaluator, node: Call, ts: list[int]) -> VectorV:
    series = ev.vector_arg(node.args[0], ts)
    strs = [string_arg(ev, a, ts) for a in node.args[1:]]
    dst, sep, srcs = strs[0], strs[1], strs[2:]
    if not _label_name_ok(dst):
        raise QueryError(f"invalid destination label name in label_join(): {dst}")
    out = []
    for s in series:
        value = sep.join(s.labels.get(n) or "" for n in srcs)
        items = dict(s.labels.items_tuple)
        if value:
            items[dst] = value
        else:
            items.pop(dst, None)
        out.append(Series(Labels(items), s.values, s.drop_name and dst != "__name__"))
    return VectorV(_merge_same(out))


def _merge_same(series: list[Series]) -> list[Series]:
    """Series that now share a label set merge if they never overlap in time, else 422."""
    by_key: dict[tuple[Labels, bool], Series] = {}
    out: list[Series] = []
    for s in series:
        key = (s.labels, s.drop_name)
        prev = by_key.get(key)
        if prev is None:
            by_key[key] = s
            out.append(s)
            continue
        merged: list[Num] = []
        for a, b in zip(prev.values, s.values, strict=True):
            if a is not None and b is not None:
                raise Unprocessable("vector cannot contain metrics with the same labelset")
            merged.append(a if a is not None else b)
        prev.values = merged
    return out


def string_arg(ev: Evaluator, node: object, ts: list[int]) -> str:
    if isinstance(node, StringLit):
        return node.val
    value = ev.eval(node, ts)  # type: ignore[arg-type]
    if not isinstance(value, StringV):
        raise QueryError("expected a string argument")
    return value.value


def sort_by_label(ev: Evaluator, node: Call, ts: list[int], desc: bool) -> VectorV:
    series = ev.vector_arg(node.args[0], ts)
    names = [string_arg(ev, a, ts) for a in node.args[1:]]

    def cmp(a: Series, b: Series) -> int:
        for n in names:
            x, y = a.labels.get(n) or "", b.labels.get(n) or ""
            if x != y:
                return _natural_cmp(x, y)
        ax, bx = a.labels.items_tuple, b.labels.items_tuple
        return (ax > bx) - (ax < bx)

    present = [s for s in series if any_present(s.values)]
    ordered = sorted(present, key=cmp_to_key(cmp), reverse=desc)
    return VectorV(ordered)


def _natural_cmp(a: str, b: str) -> int:
    def parts(s: str) -> list[tuple[int, int | str]]:
        return [(0, int(p)) if p.isdigit() else (1, p) for p in re.findall(r"\d+|\D+", s)]

    pa, pb = parts(a), parts(b)
    for x, y in zip(pa, pb, strict=False):
        if x != y:
            if x[0] != y[0]:
                return -1 if x[0] < y[0] else 1
            return -1 if x[1] < y[1] else 1  # type: ignore[operator]
    return (len(pa) > len(pb)) - (len(pa) < len(pb))
