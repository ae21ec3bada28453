"""SPEC §6.5.1 native ``POST /api/metrics`` bodies → store operations. Pure.

Rules, numbered for the tests:

1. The body is a JSON object with a ``metrics`` list; anything else is a 400 for the whole
   request. Each item is validated alone: a bad one is reported as ``{index, reason}`` and
   the good ones are stored (issue 6).
2. ``name`` matches ``[a-zA-Z_:][a-zA-Z0-9_:]*``; ``type`` is counter, histogram or gauge;
   ``labels`` (optional) is an object of string values whose names match
   ``[a-zA-Z_][a-zA-Z0-9_]*`` and do not start with ``__`` (reserved by Prometheus);
   histograms may not use ``le``; ``value`` is a finite number (not a boolean); counter
   values are increments and may not be negative.
3. ``timestamp`` is optional: RFC 3339 (the SPEC's example) or unix seconds; default now.
4. Counters are increments: each becomes a cumulative sample (running total) of its series.
5. Histogram observations are kept raw (exact minute percentiles, SPEC §6.7) and folded into
   cumulative ``<name>_bucket{le}`` (``le`` formatted like Prometheus 3: ``1.0``, ``+Inf``),
   ``<name>_sum`` and ``<name>_count`` counters; every bucket gets a sample each time, so
   ``histogram_quantile`` always sees a complete bucket set.
6. Gauges are stored as they are.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from core.errors import BadRequest
from core.labels import Labels
from core.timeparse import parse_rfc3339

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "histogram", "gauge")
MAX_ITEMS = 100_000

Op = Literal["inc", "set", "obs"]


@dataclass
class Item:
    index: int
    name: str
    type: str
    labels: dict[str, str]
    value: float
    ts_ms: int


@dataclass
class Parsed:
    items: list[Item] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "accepted", "count": len(self.items)}
        if self.rejected:
            body["rejected"] = self.rejected
        return body


def parse_buckets(text: str) -> list[float]:
    """HISTOGRAM_BUCKETS: comma-separated upper bounds, ascending, +Inf implied."""
    try:
        bounds = sorted({float(p) for p in text.split(",") if p.strip()})
    except ValueError:
        raise BadRequest(f"HISTOGRAM_BUCKETS is not a list of numbers: {text!r}") from None
    return [b for b in bounds if not math.isinf(b)]


def format_le(bound: float) -> str:
    if math.isinf(bound):
        return "+Inf"
    return repr(float(bound))


def _timestamp(raw: Any, now_ms: int) -> int:
    if raw is None:
        return now_ms
    if isinstance(raw, bool):
        raise ValueError("timestamp must be an RFC 3339 string or unix seconds")
    if isinstance(raw, int | float):
        if not math.isfinite(raw) or not 0 <= raw < 1e11:
            raise ValueError("timestamp in unix seconds out of range")
        return round(raw * 1000)
    if isinstance(raw, str):
        try:
            return round(parse_rfc3339(raw).timestamp() * 1000)
        except (BadRequest, ValueError, OverflowError):
            raise ValueError(f"timestamp {raw[:40]!r} is not RFC 3339") from None
    raise ValueError("timestamp must be an RFC 3339 string or unix seconds")


def _item(index: int, raw: Any, now_ms: int) -> Item:
    if not isinstance(raw, dict):
        raise ValueError("item must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValueError("name must match [a-zA-Z_:][a-zA-Z0-9_:]*")
    kind = raw.get("type")
    if kind not in TYPES:
        raise ValueError("type must be counter, histogram or gauge")
    labels = raw.get("labels") or {}
    if not isinstance(labels, dict):
        raise ValueError("labels must be an object")
    for key, val in labels.items():
        if not LABEL_RE.fullmatch(key) or key.startswith("__"):
            raise ValueError(f"invalid label name {key[:40]!r}")
        if not isinstance(val, str):
            raise ValueError(f"label {key!r} must have a string value")
        if kind == "histogram" and key == "le":
            raise ValueError("label 'le' is reserved for histogram buckets")
    value = raw.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("value must be a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("value must be finite")
    if kind == "counter" and value < 0:
        raise ValueError("counter increments may not be negative")
    return Item(index, name, kind, dict(labels), value, _timestamp(raw.get("timestamp"), now_ms))


def parse(body: bytes, now_ms: int) -> Parsed:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), list):
        raise BadRequest('body must be a JSON object with a "metrics" list')
    metrics = doc["metrics"]
    if len(metrics) > MAX_ITEMS:
        raise BadRequest(f"at most {MAX_ITEMS} metrics per request")
    out = Parsed()
    for index, raw in enumerate(metrics):
        try:
            out.items.append(_item(index, raw, now_ms))
        except ValueError as exc:
            out.rejected.append({"index": index, "reason": str(exc)})
    return out


@functools.lru_cache(maxsize=1024)  # ~15 label sets each: bounded to a few MB
def _series_of(
    name: str, kind: str, labels: tuple[tuple[str, str], ...], buckets: tuple[float, ...]
) -> tuple[Labels, ...]:
    """The label sets one item writes to (cached: building sorted Labels dominated the
    cost of a native POST, and clients repeat the same few label sets)."""
    base = dict(labels)
    if kind != "histogram":
        return (Labels({**base, "__name__": name}),)
    return (
        Labels({**base, "__name__": name}),
        *(
            Labels({**base, "__name__": f"{name}_bucket", "le": format_le(b)})
            for b in [*buckets, math.inf]
        ),
        Labels({**base, "__name__": f"{name}_sum"}),
        Labels({**base, "__name__": f"{name}_count"}),
    )


def expand(items: list[Item], buckets: list[float]) -> list[tuple[Op, Labels, int, float]]:
    """Items → ordered store operations: ``inc`` (running total), ``set``, ``obs`` (raw)."""
    ops: list[tuple[Op, Labels, int, float]] = []
    bounds = tuple(buckets)
    for it in items:
        series = _series_of(it.name, it.type, tuple(sorted(it.labels.items())), bounds)
        ts, v = it.ts_ms, it.value
        if it.type == "gauge":
            ops.append(("set", series[0], ts, v))
        elif it.type == "counter":
            ops.append(("inc", series[0], ts, v))
        else:
            ops.append(("obs", series[0], ts, v))
            for bound, labels in zip([*bounds, math.inf], series[1:-2], strict=True):
                ops.append(("inc", labels, ts, 1.0 if v <= bound else 0.0))
            ops.append(("inc", series[-2], ts, v))
            ops.append(("inc", series[-1], ts, 1.0))
    return ops


def metadata_of(items: list[Item]) -> list[tuple[str, str, str, str]]:
    """Family metadata for /api/v1/metadata and /api/metrics/names."""
    seen: dict[str, str] = {}
    for it in items:
        seen.setdefault(it.name, it.type)
    return [(name, kind, "", "") for name, kind in seen.items()]
