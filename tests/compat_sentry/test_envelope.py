"""Envelope parser rules E1-E9, on real fixture bodies and on hand-made edge cases."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compat_sentry.protocol.envelope import (
    MAX_HEADER_BYTES,
    EnvelopeError,
    item_count,
    parse_envelope,
)
from tests.compat_sentry.conftest import decoded, fixture_names


@pytest.mark.parametrize("name", [n for n in fixture_names() if not n.startswith("store-")])
def test_every_fixture_envelope_parses(name: str) -> None:
    env = parse_envelope(decoded(name))
    assert env.items, name
    for item in env.items:
        assert len(item.payload) == item.headers["length"]  # sentry-python always sends it


def test_attachments_keep_binary_payloads_with_newlines() -> None:
    env = parse_envelope(decoded("attachments"))
    assert [i.type for i in env.items] == ["event", "attachment", "attachment"]
    assert env.items[1].headers["filename"] == "notes.txt"
    assert b"\n" in env.items[1].payload or len(env.items[1].payload) > 0


def test_batched_item_counts() -> None:
    env = parse_envelope(decoded("logs"))
    assert [item_count(i) for i in env.items] == [4]


def test_items_without_length_newline_terminated_e5() -> None:
    body = b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n{"type":"event"}\n{"a":1}\n'
    env = parse_envelope(body)
    assert env.event_id == "9ec79c33ec9942ab8353589fcb2e04dc"
    assert [(i.type, i.payload) for i in env.items] == [("event", b'{"a":1}')]


def test_no_trailing_newline_e6() -> None:
    env = parse_envelope(b'{}\n{"type":"event","length":7}\n{"a":1}')
    assert env.items[0].payload == b'{"a":1}'
    env = parse_envelope(b'{}\n{"type":"event"}\n{"a":1}')
    assert env.items[0].payload == b'{"a":1}'


def test_several_items_mixed_forms_and_blank_lines_e7() -> None:
    body = (
        b"{}\n"
        b'{"type":"attachment","length":5}\nab\ncd\n'
        b'{"type":"session"}\n{"sid":"x"}\n'
        b"\n"
        b'{"type":"whatever-new-type","length":0}\n\n'
        b'{"type":"client_report"}\n{"discarded_events":[]}'
    )
    env = parse_envelope(body)
    assert [i.type for i in env.items] == [
        "attachment",
        "session",
        "whatever-new-type",
        "client_report",
    ]
    assert env.items[0].payload == b"ab\ncd"
    assert env.items[2].payload == b""


def test_header_only_envelope() -> None:
    assert parse_envelope(b"{}").items == []
    assert parse_envelope(b"{}\n").items == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "envelope header is not valid JSON"),
        (b"not json\n", "envelope header is not valid JSON"),
        (b"[1]\n", "not a JSON object"),
        (b'{}\n{"length":2}\nab', "no string 'type'"),
        (b'{}\n{"type":"event","length":-1}\n', "non-negative integer"),
        (b'{}\n{"type":"event","length":true}\n', "non-negative integer"),
        (b'{}\n{"type":"event","length":100}\n{"a":1}', "declares 100 bytes"),
        (b"{}\n\xff\xfe\n", "not valid JSON"),
        (b"{}\n" + b"[" * 60_000 + b"\n", "not valid JSON"),
    ],
)
def test_invalid_envelopes_e9(body: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        parse_envelope(body)


def test_header_line_cap_e9() -> None:
    big = b'{"x":"' + b"a" * MAX_HEADER_BYTES + b'"}\n'
    with pytest.raises(EnvelopeError, match="longer than"):
        parse_envelope(big)


def test_item_count_cap_e9() -> None:
    body = b"{}\n" + b'{"type":"session","length":0}\n' * 11
    with pytest.raises(EnvelopeError, match="more than 10 items"):
        parse_envelope(body, max_items=10)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_raises_only_envelope_error(data: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        parse_envelope(data)


_json_obj = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["event", "attachment", "log", "x"]), st.binary(max_size=50)),
        max_size=5,
    ),
    _json_obj,
    st.booleans(),
)
def test_round_trip_with_lengths(
    items: list[tuple[str, bytes]], header: dict, newline: bool
) -> None:
    body = json.dumps(header).encode()
    for item_type, payload in items:
        body += b"\n" + json.dumps({"type": item_type, "length": len(payload)}).encode()
        body += b"\n" + payload
    if newline:
        body += b"\n"
    env = parse_envelope(body)
    assert env.headers == header
    assert [(i.type, i.payload) for i in env.items] == items


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=300))
def test_mutated_fixture_raises_only_envelope_error(noise: bytes, at: int) -> None:
    body = decoded("message-warning")
    mutated = body[:at] + noise + body[at + len(noise) :]
    with contextlib.suppress(EnvelopeError):
        parse_envelope(mutated)
