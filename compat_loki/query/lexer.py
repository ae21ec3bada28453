"""LogQL tokens, with line/column positions for error messages. Pure.

Numbers that run straight into letters are lexed as one token and classified: a Go/Prometheus
duration (``5m``, ``1h30m``, ``1.5s``, ``250ms``) or a byte size (``10KB``, ``1MiB``). Strings
are double-quoted with Go escapes or back-quoted raw, as in Loki.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import QueryError

# Longest first, so ``!=`` wins over ``!`` and ``|=`` over ``|``.
_PUNCT = (
    "|=",
    "|~",
    "|>",
    "!>",
    "!=",
    "!~",
    "=~",
    "==",
    ">=",
    "<=",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    ">",
    "<",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "|",
)
_DIGITS = frozenset("0123456789")
_DIGITS_NONEMPTY = _DIGITS
_FLAG = re.compile(r"--[A-Za-z][A-Za-z0-9_-]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_UNIT_TAIL = re.compile(r"[A-Za-z0-9.]*")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w|y))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_DURATION_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 7 * 86_400_000_000_000,
    "y": 365 * 86_400_000_000_000,
}
_BYTES = re.compile(r"^(\d+(?:\.\d+)?)([KMGTPE]i?B|[kKMGTPE]B?|B)$", re.IGNORECASE)
_BYTE_UNITS = {
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
    "p": 1000**5,
    "pb": 1000**5,
    "pib": 1024**5,
    "e": 1000**6,
    "eb": 1000**6,
    "eib": 1024**6,
}
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT, STRING, NUMBER, DURATION, BYTES, FLAG, EOF, or the punctuation itself
    text: str  # the source text (for STRING: the decoded value)
    line: int
    col: int
    value: float = 0.0  # NUMBER: the number; DURATION: ns; BYTES: bytes


def parse_error(line: int, col: int, message: str) -> QueryError:
    return QueryError(f"parse error at line {line}, col {col}: {message}")


def duration_ns(text: str) -> int | None:
    """``1h30m`` → ns, or None when ``text`` is not a duration."""
    if not _DURATION.match(text):
        return None
    total = 0.0
    for amount, unit in _DURATION_PART.findall(text):
        total += float(amount) * _DURATION_NS[unit]
    return round(total)


def bytes_value(text: str) -> int | None:
    match = _BYTES.match(text)
    if not match:
        return None
    return round(float(match.group(1)) * _BYTE_UNITS[match.group(2).lower()])


class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0

    def _error(self, message: str, pos: int | None = None) -> QueryError:
        p = self.pos if pos is None else pos
        return parse_error(self.line, p - self.line_start + 1, message)

    def _skip_space(self) -> None:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\n":
                self.pos += 1
                self.line += 1
                self.line_start = self.pos
            elif ch in " \t\r":
                self.pos += 1
            elif ch == "#":  # comment to end of line (Loki's lexer accepts them)
                while self.pos < len(text) and text[self.pos] != "\n":
                    self.pos += 1
            else:
                return

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        while True:
            self._skip_space()
            if self.pos >= len(self.text):
                out.append(Token("EOF", "", self.line, self.pos - self.line_start + 1))
                return out
            out.append(self._next())

    def _next(self) -> Token:
        text = self.text
        start = self.pos
        line, col = self.line, start - self.line_start + 1
        ch = text[start]
        if ch == '"':
            return Token("STRING", self._quoted(), line, col)
        if ch == "`":
            end = text.find("`", start + 1)
            if end < 0:
                raise self._error("unterminated raw string")
            raw = text[start + 1 : end]
            newlines = raw.count("\n")
            if newlines:
                self.line += newlines
                self.line_start = start + 1 + raw.rfind("\n") + 1
            self.pos = end + 1
            return Token("STRING", raw, line, col)
        if ch in _DIGITS or (ch == "." and text[start + 1 : start + 2] in _DIGITS_NONEMPTY):
            return self._number(line, col)
        match = _FLAG.match(text, start) if ch == "-" else None
        if match:
            self.pos = match.end()
            return Token("FLAG", match.group(), line, col)
        match = _IDENT.match(text, start)
        if match:
            self.pos = match.end()
            return Token("IDENT", match.group(), line, col)
        for punct in _PUNCT:
            if text.startswith(punct, start):
                self.pos = start + len(punct)
                return Token(punct, punct, line, col)
        raise self._error(f"syntax error: unexpected character {ch!r}")

    def _number(self, line: int, col: int) -> Token:
        start = self.pos
        match = _NUMBER.match(self.text, start)
        assert match is not None
        tail = _UNIT_TAIL.match(self.text, match.end())
        assert tail is not None
        word = self.text[start : tail.end()]
        self.pos = tail.end()
        if not tail.group():
            try:
                number = float(int(word, 16)) if word[:2].lower() == "0x" else float(word)
            except ValueError:
                raise self._error(f"syntax error: bad number {word!r}", start) from None
            return Token("NUMBER", word, line, col, number)
        ns = duration_ns(word)
        if ns is not None:
            return Token("DURATION", word, line, col, float(ns))
        size = bytes_value(word)
        if size is not None:
            return Token("BYTES", word, line, col, float(size))
        raise self._error(f"syntax error: bad number or duration {word!r}", start)

    def _quoted(self) -> str:
        text = self.text
        i = self.pos + 1
        out: list[str] = []
        while True:
            if i >= len(text) or text[i] == "\n":
                raise self._error("unterminated string")
            ch = text[i]
            if ch == '"':
                self.pos = i + 1
                return "".join(out)
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            esc = text[i + 1 : i + 2]
            if esc in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[esc])
                i += 2
            elif esc in ("x", "u", "U"):
                width = {"x": 2, "u": 4, "U": 8}[esc]
                digits = text[i + 2 : i + 2 + width]
                if len(digits) != width or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                    raise self._error("invalid escape in string", i)
                code = int(digits, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise self._error("invalid escape in string", i)
                out.append(chr(code))
                i += 2 + width
            elif esc and esc in "01234567":
                digits = text[i + 1 : i + 4]
                if not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
                    raise self._error("invalid escape in string", i)
                out.append(chr(int(digits, 8)))
                i += 4
            else:
                raise self._error("invalid escape in string", i)


def tokenize(text: str) -> list[Token]:
    return Lexer(text).tokens()
