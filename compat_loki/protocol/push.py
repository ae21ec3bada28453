"""Loki push bodies → streams of entries. Pure (no HTTP, no storage).

Wire facts from ``shared/contracts/grafana-loki.md`` §4 (Loki v3.4.6) and the captured
clients in ``shared/fixtures/loki-push/``:

1. ``Content-Type: application/json`` (mime parameters ignored): ``{"streams":[{"stream":
   {label: value}, "values": [["<ns as string>", "<line>"(, {metadata})]]}]}``. A number
   instead of the string timestamp is a 400. The optional third element is structured
   metadata, a flat string map (``{"structuredMetadata": {...}}`` is accepted too).
2. Legacy JSON (``/api/prom/push``, python-logging-loki ``version="0"``): ``{"streams":
   [{"labels": "{k=\\"v\\"}", "entries": [{"ts": "<RFC 3339>", "line": "..."}]}]}``.
3. Anything else, including no Content-Type: protobuf ``PushRequest`` in snappy *block*
   format (the caller un-snappies; ``decode_protobuf`` takes the raw message).
4. Stream labels in the protobuf and legacy forms are selector text ``{a="b", c="d"}``.

Errors: ``BadRequest`` for what Loki answers 400 (the whole body is unreadable); the
per-entry checks (line size, label count, timestamp too new) live in ``validate`` so good
entries are kept and the bad ones reported, as Loki's distributor does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from compat_loki.docker import clean_text
from core.errors import BadRequest
from core.timeparse import parse_time_ns

MAX_LINE_BYTES = 256 * 1024  # Loki's max_line_size default
MAX_LABEL_NAMES = 15
MAX_LABEL_NAME_LENGTH = 1024
MAX_LABEL_VALUE_LENGTH = 2048
CREATION_GRACE_NS = 10 * 60 * 1_000_000_000

Metadata = tuple[tuple[str, str], ...]


@dataclass
class PushEntry:
    ts_ns: int
    line: str
    metadata: Metadata = ()


@dataclass
class PushStream:
    labels: dict[str, str]
    entries: list[PushEntry] = field(default_factory=list)

    def selector(self) -> str:
        inner = ", ".join(
            f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in self.labels.items()
        )
        return "{" + inner + "}"


# --------------------------------------------------------------------------- labels text

_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|\})', re.S)
_GO_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unquote(body: str) -> str:
    def sub(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] in "xuU" and len(esc) > 1:
            return chr(int(esc[1:], 16))
        if len(esc) == 3 and esc.isdigit():
            return chr(int(esc, 8))
        return _SIMPLE.get(esc, esc)

    text = _GO_ESCAPE.sub(sub, body)
    if any("\ud800" <= c <= "\udfff" for c in text):
        # \ud83d\ude00 pairs (JSON-style escapes) → one character; lone halves → U+FFFD
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def parse_labels(text: str) -> dict[str, str]:
    """Selector text ``{a="b", c="d"}`` (Prometheus style) → label map."""
    s = text.strip()
    if not s.startswith("{"):
        raise BadRequest(f"invalid labels {text!r}: expected '{{'")
    if s.replace(" ", "") == "{}":
        return {}
    labels: dict[str, str] = {}
    pos = 1
    while True:
        m = _LABEL.match(s, pos)
        if not m:
            raise BadRequest(f"invalid labels {text!r}: parse error at character {pos + 1}")
        try:
            labels[m.group(1)] = _unquote(m.group(2))
        except (ValueError, OverflowError):
            raise BadRequest(f"invalid labels {text!r}: bad escape") from None
        pos = m.end()
        if m.group(3) == "}":
            if s[pos:].strip():
                raise BadRequest(f"invalid labels {text!r}: text after '}}'")
            return labels


# --------------------------------------------------------------------------- JSON


def _json_ts(value: Any) -> int:
    if not isinstance(value, str):
        raise BadRequest(
            "loghttp.PushRequest.Streams: Value looks like Number/Boolean/None, "
            f"but can't find its end: timestamp must be a string, got {value!r}"
        )
    if value.isdigit():
        return int(value)  # push timestamps are always nanoseconds, however short
    try:
        return parse_time_ns(value)
    except BadRequest:
        raise BadRequest(f"invalid timestamp {value!r}") from None


def _metadata(value: Any) -> Metadata:
    if isinstance(value, dict) and set(value) == {"structuredMetadata"}:
        value = value["structuredMetadata"]
    if not isinstance(value, dict):
        raise BadRequest("structured metadata must be an object of strings")
    out = []
    for k, v in value.items():
        if not isinstance(v, str):
            raise BadRequest(f"structured metadata {k!r} must be a string")
        out.append((str(k), v))
    return tuple(out)


def _string_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequest(f"{what} must be an object of strings")
    return {str(k): v for k, v in value.items()}


def _v1_stream(obj: dict[str, Any]) -> PushStream:
    stream = PushStream(_string_map(obj.get("stream", {}), "stream"))
    values = obj.get("values", [])
    if not isinstance(values, list):
        raise BadRequest("values must be an array")
    for value in values:
        if not isinstance(value, list) or len(value) not in (2, 3):
            raise BadRequest("each value must be [timestamp, line] or [timestamp, line, metadata]")
        ts, line = _json_ts(value[0]), value[1]
        if not isinstance(line, str):
            raise BadRequest("a log line must be a string")
        meta = _metadata(value[2]) if len(value) == 3 else ()
        stream.entries.append(PushEntry(ts, line, meta))
    return stream


def _legacy_stream(obj: dict[str, Any]) -> PushStream:
    labels = obj.get("labels", "{}")
    if not isinstance(labels, str):
        raise BadRequest("labels must be a string")
    stream = PushStream(parse_labels(labels))
    entries = obj.get("entries", [])
    if not isinstance(entries, list):
        raise BadRequest("entries must be an array")
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadRequest("each entry must be an object")
        line = entry.get("line")
        if not isinstance(line, str):
            raise BadRequest("a log line must be a string")
        stream.entries.append(PushEntry(_json_ts(entry.get("ts")), line))
    return stream


def decode_json(body: bytes) -> list[PushStream]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"loghttp.PushRequest.Streams: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("streams", []), list):
        raise BadRequest("loghttp.PushRequest: expected an object with a streams array")
    streams = []
    for obj in doc.get("streams", []):
        if not isinstance(obj, dict):
            raise BadRequest("each stream must be an object")
        streams.append(_legacy_stream(obj) if "labels" in obj else _v1_stream(obj))
    if b"\\ud" in body or b"\\uD" in body:
        # "\ud800" alone decodes to a lone surrogate, which is not storable UTF-8
        for stream in streams:
            stream.labels = {clean_text(k): clean_text(v) for k, v in stream.labels.items()}
            for e in stream.entries:
                e.line = clean_text(e.line)
                e.metadata = tuple((clean_text(k), clean_text(v)) for k, v in e.metadata)
    return streams


# --------------------------------------------------------------------------- protobuf


def decode_protobuf(message: bytes) -> list[PushStream]:
    """A snappy-decoded ``logproto.PushRequest`` → streams."""
    # imported on the first protobuf push: ~2 MB of RSS a Docker-only setup never needs
    from google.protobuf.message import DecodeError

    from compat_loki.protocol.proto import push_pb2

    request = push_pb2.PushRequest()
    try:
        request.ParseFromString(message)
    except (DecodeError, RuntimeWarning) as exc:
        raise BadRequest(f"invalid protobuf PushRequest: {exc}") from None
    streams = []
    for proto_stream in request.streams:
        stream = PushStream(parse_labels(proto_stream.labels))
        for e in proto_stream.entries:
            meta = tuple((p.name, p.value) for p in e.structuredMetadata)
            ts = e.timestamp.seconds * 1_000_000_000 + e.timestamp.nanos
            stream.entries.append(PushEntry(ts, e.line, meta))
        streams.append(stream)
    return streams


def is_json(content_type: str | None) -> bool:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime == "application/json"


# --------------------------------------------------------------------------- validation


@dataclass
class Rejected:
    message: str
    count: int = 1


def validate(streams: list[PushStream], now_ns: int) -> Iterator[PushStream | Rejected]:
    """Good streams (bad entries removed) and a ``Rejected`` per problem, Loki's wording."""
    for stream in streams:
        sel = stream.selector()
        if len(stream.labels) > MAX_LABEL_NAMES:
            yield Rejected(
                f"entry for stream '{sel}' has {len(stream.labels)} label names; "
                f"limit {MAX_LABEL_NAMES}",
                len(stream.entries),
            )
            continue
        bad_label = next(
            (
                k
                for k, v in stream.labels.items()
                if len(k) > MAX_LABEL_NAME_LENGTH or len(v) > MAX_LABEL_VALUE_LENGTH or not k
            ),
            None,
        )
        if bad_label is not None:
            yield Rejected(
                f"stream '{sel}' has a label name or value that is too long", len(stream.entries)
            )
            continue
        good = PushStream(stream.labels)
        for entry in stream.entries:
            # a character is at most 4 bytes: most lines are accepted without encoding them
            size = len(entry.line)
            if size * 4 > MAX_LINE_BYTES:
                size = len(entry.line.encode("utf-8", "replace"))
            if size > MAX_LINE_BYTES:
                yield Rejected(
                    f"Max entry size '{MAX_LINE_BYTES}' bytes exceeded for stream '{sel}' "
                    f"while adding an entry with length '{size}' bytes"
                )
            elif entry.ts_ns > now_ns + CREATION_GRACE_NS:
                yield Rejected(f"entry for stream '{sel}' has timestamp too new: {entry.ts_ns}")
            elif entry.ts_ns < 0:  # SQLite and every date function stop somewhere before
                yield Rejected(
                    f"entry for stream '{sel}' has timestamp too old: {entry.ts_ns}, "
                    "oldest acceptable timestamp is: 1970-01-01T00:00:00Z"
                )
            else:
                good.entries.append(entry)
        if good.entries:
            yield good
