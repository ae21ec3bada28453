from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import BadRequest
from core.labels import Labels, Matcher, match_all

names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)
label_sets = st.dictionaries(names, st.text(max_size=10), max_size=6)


@given(label_sets)
def test_order_does_not_matter(d: dict[str, str]) -> None:
    a = Labels(d)
    b = Labels(reversed(list(d.items())))
    assert a == b
    assert hash(a) == hash(b)
    assert a.fingerprint() == b.fingerprint()
    assert dict(a) == d


@given(label_sets, label_sets)
def test_fingerprint_distinguishes_sets(a: dict[str, str], b: dict[str, str]) -> None:
    if a != b:
        assert Labels(a).canonical() != Labels(b).canonical()


def test_fingerprint_is_stable_across_processes() -> None:
    fp = Labels({"a": "1"}).fingerprint()
    assert fp == Labels({"a": "1"}).fingerprint()
    assert -(2**63) <= fp < 2**63


def test_helpers() -> None:
    lab = Labels({"__name__": "up", "job": "a", "instance": "b"})
    assert lab.name == "up"
    assert lab.without("__name__") == {"job": "a", "instance": "b"}
    assert lab.only("job") == {"job": "a"}
    assert lab.with_(job="z", instance="") == {"__name__": "up", "job": "z"}
    assert repr(Labels({"a": "1"})) == '{a="1"}'


@pytest.mark.parametrize(
    ("op", "pattern", "value", "expected"),
    [
        ("=", "a", "a", True),
        ("=", "a", "ab", False),
        ("!=", "a", "b", True),
        ("=~", "a.", "ab", True),
        ("=~", "a", "ab", False),  # anchored
        ("=~", "b", "ab", False),
        ("=~", "a.b", "a\nb", True),  # dot matches newline (Prometheus 3)
        ("!~", "5..", "500", False),
        ("!~", "5..", "200", True),
        ("=~", "", "", True),
        ("=~", ".*", "", True),
        ("=", "", None, True),  # absent label matches the empty string
        ("!=", "", None, False),
    ],
)
def test_matcher_semantics(op: str, pattern: str, value: str | None, expected: bool) -> None:
    assert Matcher("l", op, pattern).matches(value) is expected


def test_bad_regex_and_op_are_bad_requests() -> None:
    with pytest.raises(BadRequest, match="invalid regular expression"):
        Matcher("a", "=~", "(")
    with pytest.raises(BadRequest):
        Matcher("a", "==", "x")


def test_regex_bomb_is_linear() -> None:
    # Catastrophic for backtracking engines; RE2 answers at once.
    m = Matcher("a", "=~", "(a+)+$")
    assert not m.matches("a" * 5000 + "!")


def test_match_all() -> None:
    lab = Labels({"job": "api", "status": "500"})
    assert match_all([Matcher("job", "=", "api"), Matcher("status", "=~", "5..")], lab)
    assert not match_all([Matcher("job", "=", "api"), Matcher("env", "=", "prod")], lab)


@given(st.text(max_size=20))
def test_matcher_str_quotes_value(value: str) -> None:
    text = str(Matcher("n", "=", value))
    assert text.startswith('n="') and text.endswith('"')
