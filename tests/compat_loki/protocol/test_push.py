"""Push decoding, pure: round trips through JSON and the protobuf module, garbage → 400."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compat_loki.protocol.proto import push_pb2
from compat_loki.protocol.push import (
    PushEntry,
    PushStream,
    Rejected,
    decode_json,
    decode_protobuf,
    is_json,
    parse_labels,
    validate,
)
from core.errors import BadRequest

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
values = st.text(max_size=20).filter(lambda s: "\x00" not in s)
label_sets = st.dictionaries(names, values, max_size=5)
entries = st.lists(
    st.tuples(
        st.integers(0, 2**62),
        st.text(max_size=50),
        st.lists(st.tuples(names, values), max_size=3, unique_by=lambda p: p[0]),
    ),
    max_size=5,
)
streams = st.lists(st.tuples(label_sets, entries), max_size=4)


def selector(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in labels.items()) + "}"


@given(streams)
def test_protobuf_round_trip(
    data: list[tuple[dict[str, str], list[tuple[int, str, list[tuple[str, str]]]]]],
) -> None:
    req = push_pb2.PushRequest()
    for labels, ents in data:
        s = req.streams.add(labels=selector(labels))
        for ts, line, meta in ents:
            e = s.entries.add(line=line)
            e.timestamp.seconds, e.timestamp.nanos = divmod(ts, 1_000_000_000)
            for k, v in meta:
                e.structuredMetadata.add(name=k, value=v)
    got = decode_protobuf(req.SerializeToString())
    assert [(s.labels, [(e.ts_ns, e.line, list(e.metadata)) for e in s.entries]) for s in got] == [
        (labels, [(ts, line, meta) for ts, line, meta in ents]) for labels, ents in data
    ]


@given(streams)
def test_json_round_trip(
    data: list[tuple[dict[str, str], list[tuple[int, str, list[tuple[str, str]]]]]],
) -> None:
    doc = {
        "streams": [
            {
                "stream": labels,
                "values": [
                    [str(ts), line, dict(meta)] if meta else [str(ts), line]
                    for ts, line, meta in ents
                ],
            }
            for labels, ents in data
        ]
    }
    got = decode_json(json.dumps(doc).encode())
    assert [(s.labels, [(e.ts_ns, e.line, list(e.metadata)) for e in s.entries]) for s in got] == [
        (labels, [(ts, line, meta) for ts, line, meta in ents]) for labels, ents in data
    ]


@given(st.binary(max_size=200))
def test_garbage_raises_only_bad_request(body: bytes) -> None:
    for decode in (decode_json, decode_protobuf):
        with contextlib.suppress(BadRequest):
            decode(body)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
        max_leaves=12,
    )
)
def test_any_json_document_raises_only_bad_request(doc: object) -> None:
    for wrapped in (
        doc,
        {"streams": doc},
        {"streams": [doc]},
        {"streams": [{"stream": {}, "values": doc}]},
    ):
        with contextlib.suppress(BadRequest):
            decode_json(json.dumps(wrapped).encode())


@given(label_sets)
def test_labels_text_round_trip(labels: dict[str, str]) -> None:
    assert parse_labels(selector(labels)) == labels


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{a="b", c="d"}', {"a": "b", "c": "d"}),
        (
            '{application="fixture-app",env="fixtures"}',
            {"application": "fixture-app", "env": "fixtures"},
        ),
        ('{a="q\\"uote\\\\ \\n"}', {"a": 'q"uote\\ \n'}),
        ("{}", {}),
    ],
)
def test_parse_labels(text: str, want: dict[str, str]) -> None:
    assert parse_labels(text) == want


@pytest.mark.parametrize("text", ["", "a=b", '{a="b"', "{a=b}", '{a="b"} x', '{1a="b"}'])
def test_bad_labels(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_labels(text)


def test_legacy_json_and_content_type() -> None:
    body = (
        b'{"streams": [{"labels": "{a=\\"b\\"}", "entries": '
        b'[{"ts": "2026-11-25T21:26:03.858729+00:00", "line": "x"}]}]}'
    )
    (stream,) = decode_json(body)
    assert stream.labels == {"a": "b"}
    assert stream.entries[0].ts_ns == 1795641963858729000
    assert is_json("application/json; charset=utf-8") and not is_json(None)
    assert not is_json("application/x-protobuf")


def test_validate_splits_good_and_bad() -> None:
    now = 1_800_000_000 * 10**9
    s = PushStream({"a": "b"}, [PushEntry(now, "ok"), PushEntry(now + 11 * 60 * 10**9, "future")])
    out = list(validate([s], now))
    assert isinstance(out[0], Rejected) and "too new" in out[0].message
    assert isinstance(out[1], PushStream) and [e.line for e in out[1].entries] == ["ok"]


def test_lone_surrogates_become_replacement_characters() -> None:
    body = b'{"streams":[{"stream":{"a":"x\\ud800"},"values":[["1","bad \\udc00 half"]]}]}'
    (stream,) = decode_json(body)
    assert stream.labels == {"a": "x\ufffd"} and stream.entries[0].line == "bad \ufffd half"
    stream.entries[0].line.encode("utf-8")
