"""Event bodies → ``ErrorRecord``: the native SPEC §4.4.1 body and Sentry's event payload.

Pure. Both end in the same record so that ``grouping`` sees the same exception type and
location whichever way a bug was reported.

Validation policy. The native body is SPEC's: required fields, types and the two lengths
SPEC states (project ≤ 100, exception_type ≤ 200) are enforced with a 400; the remaining
columns of SPEC §4.3.1 (environment 20, request_url 500, request_method 10, user_id 100)
are clipped, since losing an error over a long URL helps nobody. Sentry events are checked
only in the fields we read (a wrong type there is a 400 naming the field); everything else
is stored as the SDK sent it. Hostile shapes are refused up front: more than ``MAX_FRAMES``
frames in one stack, or containers nested deeper than ``MAX_DEPTH`` in the free-form parts
(``FREE_FORM``; the SDK itself trims data to depth 5-10, so real clients are far from both;
anything deeper than the interpreter's recursion limit already fails ``json.loads``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from compat_sentry import grouping
from compat_sentry.record import ErrorRecord, clip
from core.errors import BadRequest, PayloadTooLarge

MAX_FRAMES = 5000
MAX_DEPTH = 64
MAX_EVENT_BYTES = 1_000_000
# Where clients put arbitrary nested data. Checking only these (not frames, which the SDK
# shapes itself) halves the cost of an event: bench/errors.py measured check_depth over the
# whole event at ~50 µs of the ~100 µs spent per event here.
FREE_FORM = ("extra", "contexts", "request", "user", "tags", "breadcrumbs", "sdk", "modules")


class NativeError(BaseModel):
    """SPEC §4.4.1 request body."""

    model_config = ConfigDict(extra="ignore", strict=True)

    project: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    environment: Annotated[str, StringConstraints(min_length=1)] = "prod"
    exception_type: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    message: str
    traceback: str
    request_url: str | None = None
    request_method: str | None = None
    request_headers: dict[str, Any] | None = None
    user_id: str | int | None = None
    extra: dict[str, Any] | None = None


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse containers nested deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise BadRequest(f"event data is nested deeper than {limit} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))


def _loads(payload: bytes, what: str) -> Any:
    try:
        return json.loads(payload)
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply") from None
    except ValueError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None


def native_record(body: bytes) -> ErrorRecord:
    """SPEC §4.4.1 body → record; 400 naming the first bad field."""
    data = _loads(body, "body")
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    check_depth(data)
    try:
        native = NativeError.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise BadRequest(f"{where}: {err['msg']}") from None
    environment = native.environment
    if len(environment) > 20:
        raise BadRequest("environment: String should have at most 20 characters")
    return ErrorRecord(
        project=native.project,
        environment=environment,
        exception_type=native.exception_type,
        message=native.message,
        traceback=native.traceback,
        event_id=uuid.uuid4().bytes,
        payload=body,
        request_url=clip(native.request_url, 500),
        request_method=clip(native.request_method, 10),
        request_headers=native.request_headers,
        user_id=clip(None if native.user_id is None else str(native.user_id), 100),
        extra=native.extra,
        fingerprint=grouping.fingerprint(
            grouping.default_key(
                native.project,
                native.exception_type,
                grouping.traceback_location(native.traceback),
            )
        ),
        source="native",
    )


# --- Sentry events -------------------------------------------------------------------------


def _get(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise BadRequest(f"event.{path}{key}: expected {names}, got {type(value).__name__}")
    return value


def _exceptions(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = event.get("exception")
    if raw is None:
        return []
    values = raw.get("values") if isinstance(raw, dict) else raw
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
        raise BadRequest("event.exception.values: expected a list of objects")
    out: list[dict[str, Any]] = values
    return out


def _frames(holder: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
    stack = _get(holder, "stacktrace", dict, path)
    if not stack:
        return []
    frames = _get(stack, "frames", list, f"{path}stacktrace.")
    if not frames:
        return []
    if len(frames) > MAX_FRAMES:
        raise PayloadTooLarge(f"event.{path}stacktrace has {len(frames)} frames (max {MAX_FRAMES})")
    for frame in frames:
        if not isinstance(frame, dict):
            raise BadRequest(f"event.{path}stacktrace.frames: expected a list of objects")
        for key in ("abs_path", "filename", "function", "module", "context_line"):
            _get(frame, key, str, f"{path}stacktrace.frames[].")
        _get(frame, "lineno", int, f"{path}stacktrace.frames[].")
    checked: list[dict[str, Any]] = frames
    return checked


def render_frames(frames: list[dict[str, Any]]) -> list[str]:
    lines = ["Traceback (most recent call last):"]
    for frame in frames:
        path = frame.get("abs_path") or frame.get("filename") or frame.get("module") or "?"
        lineno = frame.get("lineno") or 0
        lines.append(f'  File "{path}", line {lineno}, in {frame.get("function") or "?"}')
        code = frame.get("context_line")
        if code and code.strip():
            lines.append(f"    {code.strip()}")
    return lines


def render_chain(values: list[dict[str, Any]], stacks: list[list[dict[str, Any]]]) -> str:
    """A Python-style traceback text of the chain (causes first), for SPEC's traceback field."""
    blocks: list[str] = []
    for value, frames in zip(values, stacks, strict=True):
        lines = render_frames(frames) if frames else []
        head = value.get("type") or "Error"
        if value.get("module") and value["module"] not in ("builtins", "__builtin__"):
            head = f"{value['module']}.{head}"
        text = value.get("value")
        lines.append(f"{head}: {text}" if text not in (None, "") else str(head))
        blocks.append("\n".join(lines))
    return "\n\nThe above exception was the direct cause of the following exception:\n\n".join(
        blocks
    )


def _message(event: Mapping[str, Any]) -> tuple[str, str]:
    """(formatted message, template) from ``logentry`` or ``message``."""
    for key in ("logentry", "message"):
        value = event.get(key)
        if isinstance(value, str):
            return value, value
        if isinstance(value, dict):
            template = value.get("message")
            formatted = value.get("formatted")
            template = template if isinstance(template, str) else None
            formatted = formatted if isinstance(formatted, str) else None
            if template or formatted:
                return formatted or template or "", template or formatted or ""
        elif value is not None:
            raise BadRequest(f"event.{key}: expected string or object")
    return "", ""


def _headers(request: Mapping[str, Any]) -> dict[str, Any] | None:
    headers = request.get("headers")
    if isinstance(headers, dict):
        return headers
    if isinstance(headers, list):
        pairs = [h for h in headers if isinstance(h, list) and len(h) == 2]
        return {str(k): v for k, v in pairs}
    return None


def _user_id(user: Mapping[str, Any] | None) -> str | None:
    if not user:
        return None
    for key in ("id", "username", "email", "ip_address"):
        value = user.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def _tags(event: Mapping[str, Any]) -> dict[str, str]:
    tags = event.get("tags")
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    if isinstance(tags, list):
        return {str(p[0]): str(p[1]) for p in tags if isinstance(p, list) and len(p) == 2}
    return {}


def sentry_record(
    payload: bytes, project: str, *, source: str = "envelope", event_id: str | None = None
) -> ErrorRecord:
    """A Sentry event payload (envelope ``event`` item or ``/store/`` body) → record."""
    if len(payload) > MAX_EVENT_BYTES:
        raise PayloadTooLarge(f"event is larger than {MAX_EVENT_BYTES} bytes")
    event = _loads(payload, "event")
    if not isinstance(event, dict):
        raise BadRequest("event must be a JSON object")
    for key in FREE_FORM:
        if key in event:
            check_depth(event[key])
    values = _exceptions(event)
    stacks = [_frames(v, "exception.values[].") for v in values]
    for value in values:
        for key in ("type", "module"):
            _get(value, key, str, "exception.values[].")
    message, template = _message(event)
    parts = _get(event, "fingerprint", list, "")
    if parts is not None:
        parts = [str(p) for p in parts if isinstance(p, str | int | float)]
    if values:
        last = values[-1]
        exception_type = str(last.get("type") or "Error")[:200]
        raw_value = last.get("value")
        text = "" if raw_value is None else str(raw_value)
        message = text or message
        traceback = render_chain(values, stacks)
        key = grouping.default_key(project, exception_type, grouping.chain_location(stacks))
    else:
        exception_type = "Message"
        threads = _get(event, "threads", dict, "")
        thread_values = (threads or {}).get("values") or []
        frames = [f for t in thread_values if isinstance(t, dict) for f in _frames(t, "threads.")]
        traceback = "\n".join(render_frames(frames)) if frames else ""
        if not message:
            message = "<no message>"
        key = grouping.message_key(project, template or message)
    key = grouping.client_key(project, key, parts)
    request = _get(event, "request", dict, "") or {}
    user = _get(event, "user", dict, "")
    extra = _get(event, "extra", dict, "")
    environment = _get(event, "environment", str, "") or "prod"
    release = _get(event, "release", str, "")
    level = _get(event, "level", str, "") or "error"
    event_id = _get(event, "event_id", str, "") or event_id
    return ErrorRecord(
        project=project,
        environment=environment[:20],
        exception_type=exception_type,
        message=message,
        traceback=traceback,
        event_id=parse_event_id(event_id),
        payload=payload,
        request_url=clip(_get(request, "url", str, "request."), 500),
        request_method=clip(_get(request, "method", str, "request."), 10),
        request_headers=_headers(request),
        user_id=clip(_user_id(user), 100),
        extra=extra,
        level=level[:16],
        release=clip(release, 200),
        fingerprint=grouping.fingerprint(key),
        source=source,
        tags=_tags(event),
    )


def parse_event_id(value: str | None) -> bytes:
    """A 32-hex (or dashed UUID) event id as 16 bytes; a fresh one when absent or invalid."""
    if value:
        try:
            return uuid.UUID(value).bytes
        except ValueError:
            raise BadRequest(f"event_id {value[:40]!r} is not a UUID") from None
    return uuid.uuid4().bytes
