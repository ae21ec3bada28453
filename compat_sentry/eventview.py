"""Stored events → what the detail page shows. Pure.

Two shapes are stored (the client's own bytes): Sentry events and SPEC §4.4.1 native
bodies. Both become one ``EventView`` so the template has a single path. Nothing here
produces markup: the template escapes every value (``<script>`` in a message is text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FrameView:
    location: str
    function: str
    in_app: bool
    pre: list[str]
    line: str | None
    post: list[str]
    lineno: int | None
    vars: dict[str, str]


@dataclass
class ExceptionView:
    type: str
    value: str
    mechanism: str | None
    frames: list[FrameView]
    """Newest frame first, the way people read a crash."""


@dataclass
class EventView:
    event_id: str
    received: str
    native: bool
    timestamp: str | None = None
    level: str | None = None
    exceptions: list[ExceptionView] = field(default_factory=list)
    """Outermost exception first (the SDK sends causes first; we reverse)."""
    message: str | None = None
    traceback: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    user: dict[str, Any] = field(default_factory=dict)
    tags: list[tuple[str, str]] = field(default_factory=list)
    breadcrumbs: list[dict[str, Any]] = field(default_factory=list)
    contexts: dict[str, str] = field(default_factory=dict)
    extra: str | None = None
    release: str | None = None
    environment: str | None = None
    sdk: str | None = None
    transaction: str | None = None


def pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    except (RecursionError, TypeError, ValueError):
        return "(not shown: nested too deeply or not serialisable)"


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else pretty(value)


def _strings(value: Any) -> list[str]:
    return [x for x in value if isinstance(x, str)] if isinstance(value, list) else []


def _frame(frame: dict[str, Any]) -> FrameView:
    path = frame.get("abs_path") or frame.get("filename") or frame.get("module") or "?"
    lineno = frame.get("lineno") if isinstance(frame.get("lineno"), int) else None
    raw_vars = frame.get("vars")
    variables: dict[str, Any] = raw_vars if isinstance(raw_vars, dict) else {}
    return FrameView(
        location=f"{path}:{lineno}" if lineno is not None else str(path),
        function=_text(frame.get("function")) or "?",
        in_app=frame.get("in_app") is True,
        pre=_strings(frame.get("pre_context")),
        line=_text(frame.get("context_line")) if frame.get("context_line") else None,
        post=_strings(frame.get("post_context")),
        lineno=lineno,
        vars={str(k): _text(v) for k, v in variables.items()},
    )


def _exceptions(event: dict[str, Any]) -> list[ExceptionView]:
    raw = event.get("exception")
    values = raw.get("values") if isinstance(raw, dict) else raw
    out: list[ExceptionView] = []
    for value in values if isinstance(values, list) else []:
        if not isinstance(value, dict):
            continue
        stack = value.get("stacktrace") if isinstance(value.get("stacktrace"), dict) else {}
        raw_frames = (stack or {}).get("frames")
        frames = (
            [f for f in raw_frames if isinstance(f, dict)] if isinstance(raw_frames, list) else []
        )
        mechanism = value.get("mechanism")
        out.append(
            ExceptionView(
                type=_text(value.get("type")) or "Error",
                value=_text(value.get("value")),
                mechanism=_text(mechanism.get("type")) if isinstance(mechanism, dict) else None,
                frames=[_frame(f) for f in reversed(frames)],
            )
        )
    out.reverse()
    return out


def _message(event: dict[str, Any]) -> str | None:
    for key in ("logentry", "message"):
        value = event.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            return _text(value.get("formatted") or value.get("message"))
    return None


def _tags(event: dict[str, Any]) -> list[tuple[str, str]]:
    tags = event.get("tags")
    if isinstance(tags, dict):
        return sorted((str(k), _text(v)) for k, v in tags.items())
    if isinstance(tags, list):
        return [(str(p[0]), _text(p[1])) for p in tags if isinstance(p, list) and len(p) == 2]
    return []


def _breadcrumbs(event: dict[str, Any]) -> list[dict[str, Any]]:
    raw = event.get("breadcrumbs")
    values = raw.get("values") if isinstance(raw, dict) else raw
    crumbs: list[dict[str, Any]] = []
    for crumb in values if isinstance(values, list) else []:
        if isinstance(crumb, dict):
            crumbs.append(
                {
                    "timestamp": _text(crumb.get("timestamp")),
                    "category": _text(crumb.get("category") or crumb.get("type")),
                    "level": _text(crumb.get("level")),
                    "message": _text(crumb.get("message")),
                    "data": pretty(crumb["data"]) if crumb.get("data") else "",
                }
            )
    return crumbs


def sentry_view(event: dict[str, Any], event_id: str, received: str) -> EventView:
    request = event.get("request") if isinstance(event.get("request"), dict) else {}
    user = event.get("user") if isinstance(event.get("user"), dict) else {}
    sdk = event.get("sdk") if isinstance(event.get("sdk"), dict) else None
    contexts = event.get("contexts") if isinstance(event.get("contexts"), dict) else {}
    extra = event.get("extra")
    return EventView(
        event_id=event_id,
        received=received,
        native=False,
        timestamp=_text(event.get("timestamp")) or None,
        level=_text(event.get("level")) or None,
        exceptions=_exceptions(event),
        message=_message(event),
        request={str(k): v for k, v in (request or {}).items() if v not in (None, "", {}, [])},
        user={str(k): _text(v) for k, v in (user or {}).items()},
        tags=_tags(event),
        breadcrumbs=_breadcrumbs(event),
        contexts={str(k): pretty(v) for k, v in (contexts or {}).items()},
        extra=pretty(extra) if extra else None,
        release=_text(event.get("release")) or None,
        environment=_text(event.get("environment")) or None,
        sdk=f"{_text(sdk.get('name'))} {_text(sdk.get('version'))}".strip() if sdk else None,
        transaction=_text(event.get("transaction")) or None,
    )


def native_view(body: dict[str, Any], event_id: str, received: str) -> EventView:
    request: dict[str, Any] = {}
    for key, name in (("request_method", "method"), ("request_url", "url")):
        if body.get(key):
            request[name] = body[key]
    if body.get("request_headers"):
        request["headers"] = body["request_headers"]
    return EventView(
        event_id=event_id,
        received=received,
        native=True,
        message=_text(body.get("message")),
        traceback=_text(body.get("traceback")),
        request=request,
        user={"id": _text(body["user_id"])} if body.get("user_id") is not None else {},
        extra=pretty(body["extra"]) if body.get("extra") else None,
        environment=_text(body.get("environment")) or None,
    )


def view(data: Any, event_id: str, received: str) -> EventView:
    if not isinstance(data, dict):
        return EventView(event_id, received, native=True, message=pretty(data))
    if "exception_type" in data and "traceback" in data and "exception" not in data:
        return native_view(data, event_id, received)
    return sentry_view(data, event_id, received)


def sparkline(counts: list[int], width: int = 96, height: int = 20) -> str:
    """SVG polyline points for hourly counts (oldest first); empty string when all zero."""
    if not counts or max(counts) == 0:
        return ""
    top = max(counts)
    step = width / max(len(counts) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{height - 1 - (c / top) * (height - 2):.1f}" for i, c in enumerate(counts)
    )
