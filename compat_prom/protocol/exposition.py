"""Latest samples → Prometheus text exposition 0.0.4 or OpenMetrics 1.0. Pure.

Families are written as ``untyped`` (``unknown`` in OpenMetrics) with a HELP line: stored
series come from many senders and need not follow a type's naming rules (a remote-written
counter without ``_total`` would make the output invalid OpenMetrics), while untyped
families are valid in both formats and still lint-clean for ``promtool check metrics``.
Series whose name or label names are not legacy Prometheus names are skipped (the 0.0.4
text format cannot carry them), as are series whose latest sample is a staleness marker.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable

from core.labels import METRIC_NAME, Labels

STALE_NAN_BITS = 0x7FF0000000000002
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def wants_openmetrics(accept: str | None) -> bool:
    return bool(accept) and "application/openmetrics-text" in (accept or "")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def _is_stale(v: float) -> bool:
    return math.isnan(v) and struct.unpack("<Q", struct.pack("<d", v))[0] == STALE_NAN_BITS


def render(
    samples: Iterable[tuple[Labels, int, float]],
    helps: dict[str, str],
    *,
    openmetrics: bool,
    skip_names: frozenset[str] = frozenset(),
) -> str:
    """``samples`` sorted by labels (so each name's series are together)."""
    families: dict[str, list[str]] = {}
    for labels, ts, value in samples:
        name = labels.get(METRIC_NAME, "")
        if not _NAME.fullmatch(name) or name in skip_names or _is_stale(value):
            continue
        rest = [(k, v) for k, v in labels.items_tuple if k != METRIC_NAME]
        if any(not _LABEL.fullmatch(k) for k, _ in rest):
            continue
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in rest)
        stamp = f"{ts / 1000:.3f}" if openmetrics else str(ts)
        line = (
            f"{name}{{{inner}}} {format_value(value)} {stamp}"
            if inner
            else (f"{name} {format_value(value)} {stamp}")
        )
        families.setdefault(name, []).append(line)
    out: list[str] = []
    for name in sorted(families):
        text = helps.get(name) or f"Latest value of {name} stored by flowmon."
        out.append(f"# HELP {name} {_help_escape(text)}")
        out.append(f"# TYPE {name} {'unknown' if openmetrics else 'untyped'}")
        out.extend(families[name])
    return "\n".join(out) + ("\n" if out else "")


def family_names(exposition: str) -> frozenset[str]:
    """Names declared by ``# TYPE`` lines (and their sample suffixes) of another exposition."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            base = line.split()[2]
            names.update(
                {
                    base,
                    f"{base}_total",
                    f"{base}_bucket",
                    f"{base}_sum",
                    f"{base}_count",
                    f"{base}_created",
                    f"{base}_info",
                }
            )
    return frozenset(names)
