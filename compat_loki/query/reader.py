"""The read interface the LogQL engine needs from storage.

The engine imports only this Protocol, never the store; ``compat_loki.store`` implements it
on SQLite (FTS5 pre-filter + exact check on the line), and the engine's tests run against
that real store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from core.labels import Labels, Matcher

Direction = Literal["backward", "forward"]


@dataclass(frozen=True)
class Stream:
    id: int
    labels: Labels


@dataclass(frozen=True)
class Entry:
    stream_id: int
    ts_ns: int
    line: str
    metadata: tuple[tuple[str, str], ...] = ()  # Loki structured metadata, if pushed


class LogReader(Protocol):
    def streams(self, matchers: Sequence[Matcher], start_ns: int, end_ns: int) -> list[Stream]:
        """Streams whose labels match every matcher and that have entries in the range."""
        ...

    def entries(
        self,
        stream_ids: Sequence[int],
        start_ns: int,
        end_ns: int,
        *,
        direction: Direction = "backward",
        contains: Sequence[str] = (),
        limit: int | None = None,
    ) -> Iterator[Entry]:
        """Entries of those streams with ``start_ns <= ts < end_ns``, in time order.

        ``contains`` are substrings every returned line must hold (case-sensitive); the
        store uses its FTS index to pre-filter and checks the line exactly. ``limit``
        bounds how many entries are produced. Ties on ts are ordered by insertion.
        """
        ...

    def label_names(self, start_ns: int, end_ns: int) -> list[str]: ...

    def label_values(
        self, name: str, matchers: Sequence[Matcher], start_ns: int, end_ns: int
    ) -> list[str]: ...


class BucketCounter(Protocol):
    """Optional, for speed: counts pushed down to SQL (``count_over_time``, log volume).

    The engine uses it when the reader has it (``hasattr(reader, "bucket_counts")``) and
    otherwise counts through ``entries``; both must give the same numbers.
    """

    def bucket_counts(
        self,
        stream_ids: Sequence[int],
        start_ns: int,
        end_ns: int,
        bucket_ns: int,
        *,
        contains: Sequence[str] = (),
        with_bytes: bool = True,
    ) -> Iterable[tuple[int, int, int, int]]:
        """``(stream_id, bucket, count, bytes)`` for entries with ``start_ns < ts <= end_ns``.

        ``bucket = (ts - start_ns - 1) // bucket_ns`` (so bucket ``j`` covers the left-open
        window ``(start + j*b, start + (j+1)*b]``, Loki's range semantics); ``bytes`` is the
        UTF-8 length of the lines, or 0 when ``with_bytes`` is false (counting only needs
        the ``(stream_id, ts)`` index, reading lines is 3x slower: 63 vs 185 ms for 6 h of
        1M lines, measured); ``contains`` as in ``entries``. Empty buckets are omitted.
        """
        ...
