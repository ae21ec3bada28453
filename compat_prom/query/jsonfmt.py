"""Query results → the Prometheus HTTP API JSON text (``data.resultType``/``result``).

Built as text rather than through ``json.dumps`` of nested dicts: a 24 h range panel holds
hundreds of thousands of points, and formatting each ``[t, "v"]`` pair directly is several
times faster than building and serialising the equivalent Python objects.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

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
    # Every series of a range result shares the query's steps: the text around the values
    # ('[t,"' and '"],[t,"') is made once per distinct list of times (usually one).
    cache: dict[int, str] = {}
    last_stamps: list[int] = []
    heads: list[str] = []
    for lbl, stamps, values in res.matrix:
        if not stamps:
            series.append(f'{{"metric":{labels_json(lbl)},"values":[]}}')
            continue
        if stamps is not last_stamps and stamps != last_stamps:
            last_stamps, heads = stamps, point_heads(stamps, cache)
        series.append(f'{{"metric":{labels_json(lbl)},"values":[{points_text(heads, values)}]}}')
    return '{"resultType":"matrix","result":[' + ",".join(series) + "]}"


def point_heads(stamps: list[int], cache: dict[int, str]) -> list[str]:
    """The text before each point's value: ``[t,"`` for the first, ``"],[t,"`` after."""
    for t in stamps:
        if t not in cache:
            cache[t] = '"],[' + ts_json(t) + ',"'
    heads = list(map(cache.__getitem__, stamps))
    heads[0] = heads[0][3:]
    return heads


def points_text(heads: list[str], values: list[float]) -> str:
    """``[t,"v"],…`` from ``point_heads`` and the values.

    The values are written by ``float_texts`` and interleaved with the heads by two slice
    assignments, then joined once, all in C (a concatenation per point cost a sixth of a
    24 h panel's JSON). An integral value's ``.0`` is dropped on the joined text: it can
    only stand right before a closing ``"]`` (the heads hold digits, ``.``, ``[``, ``,``,
    ``]`` and ``"`` only). Exponents, NaN and infinities (an ``e`` or ``n`` anywhere) are
    rare and send the series through ``values_text``.
    """
    if not values:
        return ""
    parts = heads + heads
    parts[1::2] = float_texts(values)
    parts[0::2] = heads
    text = "".join(parts) + '"]'
    if "e" in text or "n" in text:
        parts[1::2] = values_text(values)
        return "".join(parts) + '"]'
    return text.replace('.0"]', '"]')


def float_texts(values: list[float]) -> list[str]:
    """Each float's shortest text that reads back as the same float (``repr``'s digits).

    Why orjson: a 24 h panel at 15 s writes ~115,000 values, and ``repr`` spends ~0.45 µs
    on each (Python's dtoa); orjson's Ryu-based writer does a whole list in ~2 ms. It
    writes NaN and infinities as ``null`` and large or tiny values with an exponent, which
    ``points_text`` sees and hands to ``values_text``. (FastAPI imports orjson whenever it
    is installed; it adds ~0.3 MB to a service's RSS.)
    """
    try:
        return orjson.dumps(values).decode()[1:-1].split(",")
    except (TypeError, orjson.JSONEncodeError):  # not a float (an int past 64 bits)
        return list(map(repr, values))


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
