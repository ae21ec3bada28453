"""Label sets and label matchers, shared by the Prometheus and Loki sides. Pure.

``Labels`` is an immutable, sorted, hashable label set with a stable fingerprint (the
series / stream identity in storage). ``Matcher`` implements ``=``, ``!=``, ``=~`` and
``!~`` with Prometheus semantics: regexes are RE2 (google-re2: linear time, no ReDoS),
fully anchored, and ``.`` matches newlines (Prometheus 3.x); a label that is absent
matches as the empty string.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import BadRequest
from core.lazyre2 import re2

METRIC_NAME = "__name__"
OPS = ("=", "!=", "=~", "!~")


class Labels(Mapping[str, str]):
    """An immutable label set; equal sets compare, hash and fingerprint equal."""

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: tuple[tuple[str, str], ...] = tuple(sorted((str(k), str(v)) for k, v in pairs))
        self._hash = hash(self._items)

    @classmethod
    def of(cls, **labels: str) -> Labels:
        return cls(labels)

    def __getitem__(self, key: str) -> str:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in self._items:
            if k == key:
                return v
        return default

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Labels):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in self._items)
        return "{" + inner + "}"

    @property
    def items_tuple(self) -> tuple[tuple[str, str], ...]:
        return self._items

    @property
    def name(self) -> str | None:
        value: str | None = self.get(METRIC_NAME)
        return value

    def without(self, *names: str) -> Labels:
        drop = set(names)
        return Labels((k, v) for k, v in self._items if k not in drop)

    def only(self, *names: str) -> Labels:
        keep = set(names)
        return Labels((k, v) for k, v in self._items if k in keep)

    def with_(self, **changes: str) -> Labels:
        merged = dict(self._items)
        for k, v in changes.items():
            if v == "":
                merged.pop(k, None)
            else:
                merged[k] = v
        return Labels(merged)

    def canonical(self) -> str:
        """A stable text form, used as the storage key and for the fingerprint."""
        return "\xff".join(f"{k}\xfe{v}" for k, v in self._items)

    def fingerprint(self) -> int:
        """A stable signed 64-bit id (same in every process and version)."""
        digest = hashlib.blake2b(self.canonical().encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)


@functools.lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> Any:
    """Compile an RE2 regex that must match the whole value; ``.`` matches newlines.

    google-re2 is imported on the first regex (``core.lazyre2``).
    """
    options = re2.Options()
    options.dot_nl = True
    options.log_errors = False
    try:
        return re2.compile(f"^(?:{pattern})$", options)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise BadRequest(f"invalid regular expression {pattern!r}: {detail}") from None


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise BadRequest(f"unknown matcher operator {self.op!r}")
        if self.op in ("=~", "!~"):
            compile_anchored(self.value)

    def matches(self, value: str | None) -> bool:
        v = value or ""
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = compile_anchored(self.value).match(v) is not None
        return hit if self.op == "=~" else not hit

    def matches_empty(self) -> bool:
        return self.matches("")

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def match_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels.get(m.name)) for m in matchers)
