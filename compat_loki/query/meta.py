"""Metadata queries behind Grafana's label browser, query hints and Logs Drilldown.

``labels``, ``label/<n>/values``, ``series``, ``index/stats``, ``index/volume[_range]``,
``detected_labels``, ``detected_fields`` and ``detected_field/<n>/values``: all over the same
``LogReader`` as the engine. Loki answers the ``detected_*`` ones from a sample of recent
lines; so do we (the newest ``line_limit`` lines of the selected streams, parsed as JSON when
they look like JSON, else as logfmt).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from compat_loki.query import ast
from compat_loki.query.rangeagg import Deadline, fallback_bucket_counts
from compat_loki.query.reader import LogReader, Stream
from compat_loki.query.stages import (
    Pipeline,
    Row,
    parse_bytes,
    parse_go_duration_s,
    parse_logfmt,
    pushable_contains,
    sanitize_key,
)
from core.labels import Labels, Matcher

_PARSER_NAMES: dict[type, str] = {
    ast.JsonParser: "json",
    ast.LogfmtParser: "logfmt",
    ast.PatternParser: "pattern",
    ast.RegexpParser: "regexp",
    ast.UnpackParser: "json",
}
HIDDEN_LABELS = frozenset({"__stream_shard__", "__tenant_id__", "__aggregated_metric__"})


def label_names(
    reader: LogReader, matchers: Sequence[Matcher] | None, start_ns: int, end_ns: int
) -> list[str]:
    if not matchers:
        return reader.label_names(start_ns, end_ns)
    return sorted({name for s in reader.streams(matchers, start_ns, end_ns) for name in s.labels})


def series(
    reader: LogReader, selectors: Sequence[Sequence[Matcher]], start_ns: int, end_ns: int
) -> list[dict[str, str]]:
    seen: dict[Labels, None] = {}
    for matchers in selectors or [()]:
        for s in reader.streams(matchers, start_ns, end_ns):
            seen.setdefault(s.labels)
    return [dict(labels.items_tuple) for labels in sorted(seen, key=lambda x: x.items_tuple)]


def _counts(
    reader: LogReader,
    streams: Sequence[Stream],
    lo: int,
    hi: int,
    width: int,
    contains: Sequence[str],
    deadline: Deadline,
) -> Iterable[tuple[int, int, int, int]]:
    """Per (stream, bucket) counts for ``lo < ts <= hi`` (pushed to SQL when possible)."""
    ids = [s.id for s in streams]
    counter = getattr(reader, "bucket_counts", None)
    if counter is not None:
        rows: Iterable[tuple[int, int, int, int]] = counter(ids, lo, hi, width, contains=contains)
        return rows
    return fallback_bucket_counts(reader, ids, lo, hi, width, contains, deadline)


def index_stats(
    reader: LogReader, query: ast.LogQuery, start_ns: int, end_ns: int, deadline: Deadline
) -> dict[str, int]:
    streams = reader.streams(query.matchers, start_ns, end_ns)
    entries = nbytes = 0
    if streams:
        span = max(end_ns - start_ns, 1)
        for _, _, count, size in _counts(
            reader, streams, start_ns - 1, end_ns - 1, span, (), deadline
        ):
            entries += count
            nbytes += size
    return {"streams": len(streams), "chunks": len(streams), "bytes": nbytes, "entries": entries}


def _volume_key(labels: Labels, by: Sequence[str]) -> Labels:
    return labels.only(*by)


def volume_labels(query: ast.LogQuery, target_labels: Sequence[str]) -> list[str]:
    """Loki groups volumes by ``targetLabels``, else by the labels the selector names."""
    if target_labels:
        return list(target_labels)
    return list(dict.fromkeys(m.name for m in query.matchers))


def volume(
    reader: LogReader,
    query: ast.LogQuery,
    start_ns: int,
    end_ns: int,
    step_ns: int | None,
    by: Sequence[str],
    limit: int,
    deadline: Deadline,
) -> dict[Labels, dict[int, int]]:
    """Bytes per group (and per step bucket when ``step_ns``), largest groups first."""
    streams = reader.streams(query.matchers, start_ns, end_ns)
    if not streams:
        return {}
    width = step_ns or max(end_ns - start_ns, 1)
    labels_of = {s.id: s.labels for s in streams}
    needles, _ = pushable_contains(query.stages)
    out: dict[Labels, dict[int, int]] = {}
    for sid, bucket, _, size in _counts(
        reader, streams, start_ns - 1, end_ns - 1, width, needles, deadline
    ):
        key = _volume_key(labels_of[sid], by)
        slot = out.setdefault(key, {})
        slot[bucket] = slot.get(bucket, 0) + size
    ranked = sorted(out.items(), key=lambda kv: (-sum(kv[1].values()), kv[0].items_tuple))
    return dict(ranked[:limit])


def detected_labels(
    reader: LogReader, matchers: Sequence[Matcher] | None, start_ns: int, end_ns: int
) -> list[dict[str, object]]:
    values: dict[str, set[str]] = {}
    for s in reader.streams(matchers or [], start_ns, end_ns):
        for name, value in s.labels.items_tuple:
            values.setdefault(name, set()).add(value)
    return [
        {"label": name, "cardinality": len(vals)}
        for name, vals in sorted(values.items())
        if name not in HIDDEN_LABELS
    ]


@dataclass
class _Field:
    values: dict[str, None] = field(default_factory=dict)
    types: set[str] = field(default_factory=set)
    parsers: set[str] = field(default_factory=set)


def _value_type(value: str) -> str:
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return "boolean"
    try:
        int(lowered)
        return "int"
    except ValueError:
        pass
    try:
        number = float(lowered)
        if math.isfinite(number):
            return "float"
    except ValueError:
        pass
    try:
        parse_go_duration_s(value)
        return "duration"
    except ValueError:
        pass
    try:
        parse_bytes(value)
        return "bytes"
    except ValueError:
        return "string"


def _fields_of(line: str) -> tuple[str, list[tuple[str, str]]]:
    text = line.lstrip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            row = Row(0, "", {}, ())
            from compat_loki.query.stages import _flatten_json

            _flatten_json(obj, "", row)
            return "json", list(row.labels.items())
    try:
        pairs = parse_logfmt(line, strict=True)
    except ValueError:
        return "", []
    return "logfmt", [(sanitize_key(k), v) for k, v in pairs if v != ""]


def sample_fields(
    reader: LogReader,
    query: ast.LogQuery,
    start_ns: int,
    end_ns: int,
    line_limit: int,
    deadline: Deadline,
) -> dict[str, _Field]:
    streams = reader.streams(query.matchers, start_ns, end_ns)
    found: dict[str, _Field] = {}
    if not streams:
        return found
    labels_of = {s.id: s.labels for s in streams}
    dicts = {s.id: dict(s.labels.items_tuple) for s in streams}
    needles, _ = pushable_contains(query.stages)
    pipeline = Pipeline(query.stages)
    query_parser = next(
        (_PARSER_NAMES[type(st)] for st in query.stages if type(st) in _PARSER_NAMES), ""
    )
    taken = 0
    for entry in reader.entries(
        list(labels_of), start_ns, end_ns, direction="backward", contains=needles
    ):
        if taken % 256 == 0:
            deadline.check()
        row = pipeline.run(Row(entry.ts_ns, entry.line, dicts[entry.stream_id], entry.metadata))
        if row is None:
            continue
        taken += 1
        if query_parser and row.parsed:  # the query parses: report what its parser found
            parser = query_parser
            pairs = [(k, row.labels[k]) for k in sorted(row.parsed) if not k.startswith("__")]
        else:
            parser, pairs = _fields_of(row.line)
        for name, value in pairs:
            f = found.setdefault(name, _Field())
            if len(f.values) < 10_000:
                f.values.setdefault(value)
            f.types.add(_value_type(value))
            f.parsers.add(parser)
        for name, value in entry.metadata:
            f = found.setdefault(name, _Field())
            f.values.setdefault(value)
            f.types.add(_value_type(value))
        if taken >= line_limit:
            break
    return found


def _merged_type(types: set[str]) -> str:
    if len(types) == 1:
        return next(iter(types))
    if types <= {"int", "float"}:
        return "float"
    return "string"


def detected_fields(fields: dict[str, _Field], limit: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for name, f in sorted(fields.items())[:limit]:
        out.append(
            {
                "label": name,
                "type": _merged_type(f.types),
                "cardinality": len(f.values),
                "parsers": sorted(f.parsers) if f.parsers else None,
            }
        )
    return out
