"""Docker json-file records: parsing, Go-style raw rebuild, timestamps."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from compat_loki import docker
from compat_loki.docker import (
    format_time,
    go_json_string,
    parse_docker_time,
    parse_line,
    rebuild_raw,
    rebuilds_to,
)
from core.errors import BadRequest


def test_parse_real_docker_line() -> None:
    raw = (
        '{"log":"INFO:     1.2.3.4 - \\"GET /a?x=1\\u0026y=\\u003c2\\u003e HTTP/1.1\\" 200\\n",'
        '"stream":"stdout","time":"2025-01-23T15:30:00.12345Z"}'
    )
    rec = parse_line(raw)
    assert rec is not None and not rec.partial
    assert rec.log == 'INFO:     1.2.3.4 - "GET /a?x=1&y=<2> HTTP/1.1" 200\n'
    assert rec.ts_ns == 1737646200123450000
    assert rebuild_raw(rec.log[:-1], rec.stream, rec.ts_ns) == raw


def test_not_docker_records() -> None:
    for raw in ["", "nope", "[]", '{"log": 1}', '{"log":"x","time":"yesterday"}']:
        assert parse_line(raw) is None
    rec = parse_line(
        '{"log":"bad \\ud800 surrogate\\n","stream":"stderr","time":"2025-01-23T15:30:00Z"}'
    )
    assert rec is not None and "\ud800" not in rec.log
    rec.log.encode("utf-8")


@given(
    st.text(max_size=80),
    st.sampled_from(["stdout", "stderr"]),
    st.integers(0, 4_000_000_000 * 10**9),
)
def test_rebuild_then_parse_round_trip(line: str, stream: str, ts: int) -> None:
    raw = rebuild_raw(line, stream, ts)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in line):
        return
    json.loads(raw)
    rec = parse_line(raw)
    assert rec is not None
    assert (rec.log, rec.stream, rec.ts_ns) == (line + "\n", stream, ts)
    assert parse_docker_time(format_time(ts)) == ts


_TIME_TEXTS = st.one_of(
    st.integers(0, 4_000_000_000 * 10**9).map(format_time),  # Go's own form
    st.builds(
        "{}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}Z".format,
        st.integers(1, 9999).map(lambda y: f"{y:04d}"),
        st.integers(1, 12),
        st.integers(1, 28),
        st.integers(0, 23),
        st.integers(0, 59),
        st.integers(0, 60),  # 60: a leap second, which Go never writes back
        st.sampled_from(["", ".", ".5", ".50", ".000000001", ".100", ".123456789", ".٣5"]),
    ),
)


@given(st.text(max_size=40), st.sampled_from(["stdout", "stderr"]), _TIME_TEXTS)
def test_rebuilds_to_agrees_with_rebuilding(line: str, stream: str, time_text: str) -> None:
    """The tailer's shortcut (Docker's time text when it is in Go's form) decides exactly
    as comparing with ``rebuild_raw``: a raw line is dropped only if it can be rebuilt."""
    raw = json.dumps({"log": line + "\n", "stream": stream, "time": time_text})
    go_raw = (
        '{"log":' + go_json_string(line + "\n") + f',"stream":"{stream}","time":"{time_text}"}}'
    )
    for candidate in (raw, go_raw):
        rec = parse_line(candidate)
        if rec is None:
            continue
        want = rebuild_raw(line, rec.stream, rec.ts_ns) == candidate
        assert rebuilds_to(candidate, line, rec) == want


def _outcome(text: str) -> object:
    try:
        return parse_docker_time(text)
    except BadRequest:
        return "bad"


@given(
    st.integers(0, 4_000_000_000).map(lambda s: format_time(s * 10**9)[:19]),
    st.sampled_from(["Z", ".5Z", ".123456789Z", ".1234567890Z", ".Z", ".5", "Zx", ".٣Z", "+01:00"]),
    st.sampled_from(["Z", ".25Z", ".000000001Z"]),
)
def test_the_per_second_cache_answers_as_the_parser(second: str, suffix: str, warm: str) -> None:
    """A time whose second was seen before takes the cached path; it must agree with the
    parser on every suffix, valid or not."""
    docker._second_cache.clear()
    cold = _outcome(second + suffix)
    _outcome(second + warm)  # the second is now cached
    assert _outcome(second + suffix) == cold


@given(st.text(max_size=60))
def test_parse_line_reads_json_as_json_loads_does(text: str) -> None:
    try:
        want = json.loads(text)
    except ValueError:
        want = "invalid"
    try:
        got = docker._load_object(text)
    except ValueError:
        got = "invalid"
    assert got == want or (got != got and want != want)
