"""``match[]`` series selectors (``up``, ``{job="x"}``, ``m{a=~"b.*",c!=""}``) → matchers.

Pure. The subset /federate accepts: a metric name and/or a brace list of label matchers,
no functions or ranges. Strings are double-, single- or back-quoted with Go escapes.
"""

from __future__ import annotations

import re

from core.errors import BadRequest
from core.labels import METRIC_NAME, Matcher

_NAME = re.compile(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")
_LABEL = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "`": "`"}


def _string(text: str, pos: int) -> tuple[str, int]:
    if pos >= len(text) or text[pos] not in "\"'`":
        raise BadRequest(f"expected a quoted string at position {pos} of {text!r}")
    quote = text[pos]
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\" and quote != "`":
            i += 1
            if i >= len(text) or text[i] not in _ESCAPES:
                raise BadRequest(f"invalid escape in {text!r}")
            out.append(_ESCAPES[text[i]])
        else:
            out.append(ch)
        i += 1
    raise BadRequest(f"unterminated string in {text!r}")


def parse_selector(text: str) -> list[Matcher]:
    matchers: list[Matcher] = []
    pos = 0
    m = _NAME.match(text, pos)
    if m:
        matchers.append(Matcher(METRIC_NAME, "=", m.group(1)))
        pos = m.end()
    rest = text[pos:].strip()
    if rest:
        pos = text.index("{", pos) if rest.startswith("{") else -1
        if pos < 0:
            raise BadRequest(f"invalid series selector {text!r}")
        pos += 1
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos < len(text) and text[pos] == "}":
                pos += 1
                break
            lm = _LABEL.match(text, pos)
            if not lm:
                raise BadRequest(f"invalid label matcher in {text!r}")
            value, pos = _string(text, lm.end())
            matchers.append(Matcher(lm.group(1), lm.group(2), value))
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos < len(text) and text[pos] == ",":
                pos += 1
            elif pos < len(text) and text[pos] == "}":
                pos += 1
                break
            else:
                raise BadRequest(f"expected ',' or '}}' in {text!r}")
        if text[pos:].strip():
            raise BadRequest(f"unexpected text after selector {text!r}")
    if not matchers or all(x.matches_empty() for x in matchers):
        raise BadRequest(f"selector {text!r} must contain a matcher that does not match empty")
    return matchers
