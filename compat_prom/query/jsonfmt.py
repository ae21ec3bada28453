"""Query results → the Prometheus HTTP API JSON text (``data.resultType``/``result``).

Built as text rather than through ``json.dumps`` of nested dicts: a 24 h range panel holds
hundreds of thousands of points, and formatting each ``[t, "v"]`` pair directly is several
times faster than building and serialising the equivalent Python objects.
"""

from __future__ import annotations

import json
from operator import add
from typing import Any

from compat_prom.query.engine import Result
from compat_prom.query.values import format_value
from core.labels import Labels


def ts_json(t_ms: int) -> str:
    """Prometheus writes times as float seconds with up to 3 decimals (``1435781451.781``)."""
    if t_ms % 1000 == 0:
        return str(t_ms // 1000)
    return f"{t_ms / 1000:.3f}".rstrip("0")


def labels_json(labels: Labels) -> str:
    return json.dumps(dict(labels.items_tuple), ensure_ascii=False, separators=(",", ":"))


def result_json(res: Result) -> str:
    """The ``data`` object (without ``stats``)."""
    if res.kind == "scalar":
        assert res.scalar is not None
        t, v = res.scalar
        return f'{{"resultType":"scalar","result":[{ts_json(t)},"{format_value(v)}"]}}'
    if res.kind == "string":
        assert res.string is not None
        t, s = res.string
        return (
            f'{{"resultType":"string","result":[{ts_json(t)},{json.dumps(s, ensure_ascii=False)}]}}'
        )
    if res.kind == "vector":
        items = [
            f'{{"metric":{labels_json(lbl)},"value":[{ts_json(t)},"{format_value(v)}"]}}'
            for lbl, t, v in res.vector
        ]
        return '{"resultType":"vector","result":[' + ",".join(items) + "]}"
    series = []
    # Every series of a range result shares the query's steps: the "[t,\"" prefixes are
    # made once per distinct list of times (usually one), each point is then a C-level
    # concatenation with its value's text, and the pairs are joined by '"],'.
    prefixes: dict[int, str] = {}
    last_stamps: list[int] = []
    last_pre: list[str] = []
    for lbl, stamps, values in res.matrix:
        if not stamps:
            series.append(f'{{"metric":{labels_json(lbl)},"values":[]}}')
            continue
        if stamps is not last_stamps and stamps != last_stamps:
            for t in stamps:
                if t not in prefixes:
                    prefixes[t] = "[" + ts_json(t) + ',"'
            last_stamps, last_pre = stamps, list(map(prefixes.__getitem__, stamps))
        series.append(f'{{"metric":{labels_json(lbl)},"values":[{points_text(last_pre, values)}]}}')
    return '{"resultType":"matrix","result":[' + ",".join(series) + "]}"


def points_text(prefixes: list[str], values: list[float]) -> str:
    """``[t,"v"],…`` from each point's ``[t,"`` prefix and its value.

    The values are written by ``repr`` in C and fixed up on the joined text: an integral
    value's ``.0`` can only stand right before its closing ``"]`` (the prefixes hold digits,
    ``.``, ``[``, ``,`` and ``"`` only). Exponents, NaN and infinities (an ``e`` or ``n``
    anywhere) are rare and send the series through ``values_text``.
    """
    if not values:
        return ""
    text = '"],'.join(map(add, prefixes, map(repr, values))) + '"]'
    if "e" in text or "n" in text:
        return '"],'.join(map(add, prefixes, values_text(values))) + '"]'
    return text.replace('.0"]', '"]')


def values_text(values: list[float]) -> list[str]:
    """``format_value`` for many values: ``repr`` in C, the rare cases fixed up after."""
    out = list(map(repr, values))
    joined = "\x00".join(out) + "\x00"
    if out and "e" not in joined and "n" not in joined:
        # no exponent, NaN or Inf: only the integral values' ".0" to drop, in one pass
        return joined.replace(".0\x00", "\x00")[:-1].split("\x00")
    for i, text in enumerate(out):
        if text[-2:] == ".0":
            out[i] = text[:-2]
        elif "e" in text or "n" in text:
            out[i] = format_value(values[i])
    return out


def envelope(
    data_json: str, warnings: list[str], infos: list[str], extra: dict[str, Any] | None = None
) -> str:
    """``{"status":"success","data":…}`` plus ``warnings``/``infos`` when there are any."""
    parts = ['{"status":"success","data":', data_json]
    if warnings:
        parts.append(',"warnings":' + json.dumps(warnings, ensure_ascii=False))
    if infos:
        parts.append(',"infos":' + json.dumps(infos, ensure_ascii=False))
    for key, value in (extra or {}).items():
        parts.append(f",{json.dumps(key)}:{json.dumps(value, ensure_ascii=False)}")
    parts.append("}")
    return "".join(parts)


def with_stats(data_json: str, stats: dict[str, Any]) -> str:
    """Insert ``"stats"`` into the data object (``stats=all``; Grafana passes it to frame meta)."""
    return data_json[:-1] + ',"stats":' + json.dumps(stats) + "}"
