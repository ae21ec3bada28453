"""Level extraction (SPEC §5.4): the patterns, the aliases, stderr, and a property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compat_loki.levels import ALIASES, LEVELS, detect, level_of, normalize


@pytest.mark.parametrize(
    ("line", "stream", "want"),
    [
        ("[INFO] started", "stdout", "INFO"),
        ("[ERROR] boom", "stdout", "ERROR"),
        ("ts=2025 level=warn msg=slow", "stdout", "WARNING"),
        ('level="debug" msg=x', "stdout", "DEBUG"),
        ("WARNING: disk almost full", "stdout", "WARNING"),
        ('INFO:     172.18.0.1:5000 - "GET /health HTTP/1.1" 200 OK', "stdout", "INFO"),
        ("ERROR:root:Failed to send email: connection timeout", "stdout", "ERROR"),
        ("2025-01-23 15:30:00,123 CRITICAL app.db: gone", "stdout", "CRITICAL"),
        ('{"timestamp": "x", "level": "WARNING", "message": "m"}', "stdout", "WARNING"),
        ('{"message": "m", "levelname": "err"}', "stderr", "ERROR"),
        ('{"level":"fatal"}', "stdout", "CRITICAL"),
        ("plain text", "stdout", "INFO"),
        ("plain text", "stderr", "ERROR"),
        ("Traceback (most recent call last):", "stderr", "ERROR"),
        ("INFO: all good", "stderr", "INFO"),  # detected wins over stderr
        ("retrying after an ERROR from upstream", "stdout", "INFO"),  # not at the start
    ],
)
def test_examples(line: str, stream: str, want: str) -> None:
    assert level_of(line, stream) == want


def test_aliases_normalize() -> None:
    assert {normalize(a) for a in ALIASES} == set(LEVELS)
    assert normalize("Warn") == "WARNING" and normalize("nope") is None and normalize(None) is None


@given(st.text(max_size=300), st.sampled_from(["stdout", "stderr", None]))
def test_always_one_of_the_levels(line: str, stream: str | None) -> None:
    level = level_of(line, stream)
    assert level in LEVELS
    if detect(line) is None:
        assert level == ("ERROR" if stream == "stderr" else "INFO")


@given(
    st.sampled_from(sorted(ALIASES)),
    st.text(max_size=40),
    st.sampled_from(["[{}] ", "{}: ", "level={} "]),
)
def test_marker_at_start_is_found(word: str, rest: str, shape: str) -> None:
    for spelling in (word, word.upper(), word.capitalize()):
        assert level_of(shape.format(spelling) + rest) == ALIASES[word]
