"""The detail page's view model never fails on stored data, whatever its shape."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from compat_sentry import eventview
from compat_sentry.protocol.envelope import parse_envelope
from tests.compat_sentry.conftest import decoded

_json: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(
        st.sampled_from(
            ["exception", "values", "stacktrace", "frames", "vars", "pre_context",
             "request", "user", "tags", "breadcrumbs", "contexts", "sdk", "message",
             "logentry", "type", "value", "lineno", "in_app", "mechanism", "extra"]
        ),
        children,
        max_size=4,
    ),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_json)
def test_any_json_renders_a_view(data: Any) -> None:
    view = eventview.view(data, "ab" * 16, "2026-01-01T00:00:00Z")
    assert view.event_id == "ab" * 16


def test_chain_is_outermost_first_and_frames_newest_first() -> None:
    event = json.loads(parse_envelope(decoded("exception-chained-unhandled")).items[0].payload)
    view = eventview.view(event, "x", "t")
    assert [e.type for e in view.exceptions] == ["ValueError", "KeyError"]
    first = view.exceptions[0].frames[0]
    assert first.in_app and first.lineno == 17 and first.line


def test_sparkline() -> None:
    assert eventview.sparkline([0, 0, 0]) == ""
    points = eventview.sparkline([0, 2, 1], width=10, height=10).split()
    assert points == ["0.0,9.0", "5.0,1.0", "10.0,5.0"]
