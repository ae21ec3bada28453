"""PII scrubbing of SPEC §10.3: what leaves FlowRent for the stack carries no customer data.

One function, ``scrub``, walks any JSON-like value (a Sentry event, a native error report,
log extras) and

1. replaces e-mail addresses, phone numbers and street addresses inside strings with
   ``[email]``, ``[phone]``, ``[address]``;
2. replaces the whole value of a key that names personal or secret data (``email``,
   ``customer_phone``, ``password``, ``token``, ``iban``, ...) with ``[Filtered]``;
3. treats two-element ``[name, value]`` lists (ASGI headers, as found in stack frames'
   local variables) like mapping entries;
4. keeps internal identifiers: keys ``id`` / ``*_id`` / ``*_ids`` are left as they are, and
   a bare run of digits is never taken for a phone number, so ``booking_id=123456789`` and
   ``/bookings/612345678`` survive (SPEC: "Include only: user_id, booking_id").

Phone numbers are recognised only with a ``+``/``00`` prefix or with separators between
digit groups (``612 345 678``, ``96-123-45-67``), nine digits or more; dotted quads are IP
addresses, not phones. Street addresses are recognised by a street word (Spanish, Catalan
and English: ``Calle``, ``C/``, ``Avda.``, ``Carrer``, ``Plaza``, ``Street``, ``Ave``...)
next to a house number. This is a safety net; FlowRent should still not log customer data.

``drop_headers`` removes credential headers (Authorization, Cookie...) outright, as
SPEC §10.3 asks, rather than masking them.

Pure: no I/O, no framework imports (import-linter "pure modules" contract).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FILTERED = "[Filtered]"
MAX_DEPTH = 20

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")

# +34 612 345 678, 0034612345678, (+34) 96 123 45 67, 612 345 678, 612-34-56-78
PHONE_RE = re.compile(
    r"(?<![\w+\-/.])"
    r"(?:"
    r"(?:\(?(?:\+|00)\d{1,3}\)?[\s.\-]?)(?:\(?\d{1,4}\)?[\s.\-]?){2,5}\d{1,4}"
    r"|"
    r"\(?\d{2,4}\)?(?:[\s.\-]\d{2,4}){2,4}"
    r")"
    r"(?![\w\-/])"
)
IPV4_RE = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
MIN_PHONE_DIGITS = 9

_STREET_WORDS_BEFORE = (
    r"Calle|C/|Cl\.|Avenida|Avda\.?|Av\.|Plaza|Pza\.?|Pl\.|Paseo|Pº|Camino|Carretera|Ctra\.?|"
    r"Ronda|Travesía|Travesia|Gran\s+V[ií]a|Carrer|Passeig|Pla[çc]a|Avinguda"
)
_STREET_WORDS_AFTER = (
    r"Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Lane|Ln\.?|Boulevard|Blvd\.?|Drive|Dr\.?|"
    r"Way|Court|Ct\.?|Place|Pl\.?|Square|Sq\.?|Terrace|Close"
)
# "Calle de Colón 12, 3º B", "C/ Sueca, 45", "Avda. del Puerto 180"
ADDRESS_BEFORE_RE = re.compile(
    rf"\b(?:{_STREET_WORDS_BEFORE})\s*[^\d,;\n\"']{{1,60}}?,?\s*(?:n[ºo°]\.?\s*)?\d{{1,5}}"
    r"(?:\s*[,-]?\s*\d{1,3}\s*[ºª°]\s*[A-Za-z]?)?",
    re.IGNORECASE,
)
# "221B Baker Street", "10 Downing St": case-sensitive, or "3 times on the way" would match.
ADDRESS_AFTER_RE = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][\w'\-]*\s+){{1,4}}(?:{_STREET_WORDS_AFTER})(?!\w)"
)
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DIGIT = re.compile(r"\d")

SENSITIVE_KEY_RE = re.compile(
    r"(?:^|[_\-\s])(?:e-?mail|mail|phone|telephone|mobile|tel|address|street|postcode|"
    r"zip|password|passwd|pwd|secret|token|api[_-]?key|auth|authorization|cookie|"
    r"session|csrf|card|pan|iban|cvv|cvc|dob|birth(?:date|day)?|passport|dni|nie|nif|"
    r"first[_-]?name|last[_-]?name|full[_-]?name|surname)(?:$|[_\-\s])",
    re.IGNORECASE,
)
ID_KEY_RE = re.compile(r"(?:^|[_\-])(?:id|ID|Id)s?$|[a-z]Ids?$")

DROPPED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-sentry-auth",
        "x-csrf-token",
        "x-xsrf-token",
    }
)


def _phone_sub(match: re.Match[str]) -> str:
    text = match.group(0)
    if IPV4_RE.match(text.strip()) or DATE_RE.search(text):
        return text
    if sum(ch.isdigit() for ch in text) < MIN_PHONE_DIGITS:
        return text
    return "[phone]"


def scrub_text(text: str) -> str:
    """Replace e-mail addresses, street addresses and phone numbers inside ``text``."""
    if not text:
        return text
    if "@" in text:
        text = EMAIL_RE.sub("[email]", text)
    if not _DIGIT.search(text):  # phones and street addresses both need a digit
        return text
    text = ADDRESS_BEFORE_RE.sub("[address]", text)
    text = ADDRESS_AFTER_RE.sub("[address]", text)
    return PHONE_RE.sub(_phone_sub, text)


def is_sensitive_key(key: str) -> bool:
    if ID_KEY_RE.search(key):
        return False
    return SENSITIVE_KEY_RE.search(key) is not None


def scrub(value: Any, _depth: int = 0) -> Any:
    """Scrubbed copy of a JSON-like value (dicts, lists, tuples, strings, scalars)."""
    if isinstance(value, str):
        return scrub_text(value)
    if _depth >= MAX_DEPTH:
        return value if isinstance(value, int | float | bool) or value is None else FILTERED
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and is_sensitive_key(key):
                out[key] = FILTERED if item not in (None, "", [], {}) else item
            else:
                out[key] = scrub(item, _depth + 1)
        return out
    if isinstance(value, list | tuple):
        if len(value) == 2 and isinstance(value[0], str) and _names_secret(value[0]):
            return [value[0], FILTERED]
        return [scrub(item, _depth + 1) for item in value]
    return value


def _names_secret(name: str) -> bool:
    """A (name, value) pair's name, also as the SDK's repr of bytes (``"b'cookie'"``).

    ASGI keeps headers as ``[[b"authorization", b"Bearer ..."], ...]``; the SDK sends
    such lists among a frame's local variables, so pairs are checked like mapping keys.
    """
    if name[:2] in ("b'", 'b"'):
        name = name[2:-1]
    return name.lower() in DROPPED_HEADERS or is_sensitive_key(name)


def drop_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """Headers without the credential ones (SPEC §10.3: no Authorization, no Cookie)."""
    return {k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS}
