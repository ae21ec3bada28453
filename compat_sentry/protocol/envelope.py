"""Sentry envelope parser: pure, bounded, and strict about what it cannot understand.

Spec: https://develop.sentry.dev/sdk/data-model/envelopes/ (as of sentry-python 2.75,
Nov 2026). The body given here is already decoded from its Content-Encoding and capped by
``core.http`` (1 MB as sent, 20 MB decoded); this parser adds the structural caps.

Rules implemented (numbers are cited in the code and the tests):

E1. An envelope is a *header line* followed by zero or more items. Lines end with ``\\n``.
E2. The envelope header is a JSON object on one line (``{}`` allowed). It may end at EOF.
E3. An item is an *item header line* (a JSON object with a string ``type``) followed by a
    payload.
E4. With ``length`` (a non-negative integer) the payload is exactly that many bytes and may
    contain newlines (attachments, minified JSON with ``\\n`` in strings).
E5. Without ``length`` the payload runs to the next ``\\n`` or to EOF.
E6. One ``\\n`` follows a payload; at the end of the envelope it is optional.
E7. Empty lines where an item header is expected are skipped (some SDKs end with ``\\n\\n``).
E8. Unknown item types are not errors: they are returned like any other item, and the
    caller decides (DESIGN §3: counted, never failing the envelope).
E9. Caps: a header line over ``MAX_HEADER_BYTES``, more than ``max_items`` items, or a
    declared ``length`` past the end of the body (a truncated envelope) are errors.

Every failure raises ``EnvelopeError`` (a ``core.errors.BadRequest``), never ``KeyError``,
``UnicodeDecodeError`` or ``RecursionError``: the Hypothesis tests feed it garbage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core.errors import BadRequest

MAX_HEADER_BYTES = 64 * 1024
MAX_ITEMS = 1000


class EnvelopeError(BadRequest):
    """The body is not an envelope we can read; the message says where it broke."""


@dataclass
class Item:
    type: str
    headers: dict[str, Any]
    payload: bytes


@dataclass
class Envelope:
    headers: dict[str, Any]
    items: list[Item] = field(default_factory=list)

    @property
    def dsn(self) -> str | None:
        value = self.headers.get("dsn")
        return value if isinstance(value, str) else None

    @property
    def event_id(self) -> str | None:
        value = self.headers.get("event_id")
        return value if isinstance(value, str) else None


def _json_object(line: bytes, what: str) -> dict[str, Any]:
    if len(line) > MAX_HEADER_BYTES:
        raise EnvelopeError(f"{what} is longer than {MAX_HEADER_BYTES} bytes")
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        raise EnvelopeError(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"{what} is not a JSON object")
    return value


def _line_end(data: bytes, start: int) -> int:
    end = data.find(b"\n", start)
    return len(data) if end < 0 else end


def parse_envelope(data: bytes, *, max_items: int = MAX_ITEMS) -> Envelope:
    """Split ``data`` into the envelope header and its items (rules E1-E9)."""
    end = _line_end(data, 0)  # E1, E2
    envelope = Envelope(_json_object(data[:end], "envelope header"))
    pos = end + 1
    size = len(data)
    while pos < size:
        if data[pos : pos + 1] in (b"\n", b"\r"):  # E7
            pos += 1
            continue
        end = _line_end(data, pos)
        index = len(envelope.items)
        headers = _json_object(data[pos:end], f"item {index} header")  # E3
        item_type = headers.get("type")
        if not isinstance(item_type, str) or not item_type:
            raise EnvelopeError(f"item {index} header has no string 'type'")
        pos = end + 1
        length = headers.get("length")
        if length is not None:  # E4
            if isinstance(length, bool) or not isinstance(length, int) or length < 0:
                raise EnvelopeError(f"item {index} 'length' is not a non-negative integer")
            if pos + length > size:
                raise EnvelopeError(  # E9: truncated
                    f"item {index} ({item_type}) declares {length} bytes "
                    f"but only {max(size - pos, 0)} remain"
                )
            payload = data[pos : pos + length]
            pos += length
            if data[pos : pos + 1] == b"\n":  # E6
                pos += 1
        else:  # E5
            end = _line_end(data, pos) if pos < size else size
            payload = data[pos:end]
            pos = end + 1
        if len(envelope.items) >= max_items:  # E9
            raise EnvelopeError(f"envelope has more than {max_items} items")
        envelope.items.append(Item(item_type, headers, payload))  # E8: any type
    return envelope


def item_count(item: Item) -> int:
    """How many things an item carries: batched types (log, span, ...) say ``item_count``."""
    count = item.headers.get("item_count")
    if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= 1_000_000:
        return count
    return 1
