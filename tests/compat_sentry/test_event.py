"""Event bodies → records: any JSON gives a record or one of our 4xx errors, never a crash."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from compat_sentry.protocol.event import native_record, parse_event_id, sentry_record
from core.errors import AppError

KEYS = [
    "exception", "values", "stacktrace", "frames", "abs_path", "lineno", "in_app", "type",
    "value", "module", "fingerprint", "message", "logentry", "formatted", "params",
    "request", "url", "method", "headers", "user", "id", "extra", "environment", "release",
    "level", "event_id", "threads", "tags", "project", "exception_type", "traceback",
]  # fmt: skip

_json: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_sentry_record_never_crashes(data: Any) -> None:
    payload = json.dumps(data).encode()
    try:
        record = sentry_record(payload, "p")
    except AppError as exc:
        assert 400 <= exc.status < 500
        return
    assert len(record.fingerprint) == 32 and len(record.event_id) == 16
    assert len(record.environment) <= 20


@settings(max_examples=300, deadline=None)
@given(_json)
def test_native_record_never_crashes(data: Any) -> None:
    try:
        record = native_record(json.dumps(data).encode())
    except AppError as exc:
        assert exc.status == 400
        return
    assert len(record.project) <= 100 and len(record.exception_type) <= 200


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_bytes(data: bytes) -> None:
    for parse in (lambda b: sentry_record(b, "p"), native_record):
        try:
            parse(data)
        except AppError as exc:
            assert 400 <= exc.status < 500


def test_event_ids() -> None:
    assert (
        parse_event_id("9ec79c33ec9942ab8353589fcb2e04dc").hex()
        == "9ec79c33ec9942ab8353589fcb2e04dc"
    )
    dashed = "9ec79c33-ec99-42ab-8353-589fcb2e04dc"
    assert parse_event_id(dashed).hex() == "9ec79c33ec9942ab8353589fcb2e04dc"
    assert len(parse_event_id(None)) == 16


def test_message_template_and_sdk_types() -> None:
    event = {
        "logentry": {
            "message": "payment %s failed",
            "params": ["p-1"],
            "formatted": "payment p-1 failed",
        },
        "level": "error",
    }
    record = sentry_record(json.dumps(event).encode(), "flowrent")
    assert (record.exception_type, record.message) == ("Message", "payment p-1 failed")
    other = dict(
        event, logentry={"message": "payment %s failed", "formatted": "payment p-2 failed"}
    )
    assert sentry_record(json.dumps(other).encode(), "flowrent").fingerprint == record.fingerprint
