"""The read interface the PromQL engine needs from storage (Prometheus' ``Select``).

The engine imports only this Protocol, never the store; ``compat_prom.store`` implements it
on SQLite, and the engine's tests run against that real store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from core.labels import Labels, Matcher

# Prometheus' staleness marker: a NaN with this exact bit pattern (value.StaleNaN).
STALE_NAN_BITS = 0x7FF0000000000002


@dataclass
class SeriesSamples:
    """One series and its samples in a time range, oldest first."""

    labels: Labels  # includes __name__
    timestamps: Sequence[int]  # milliseconds since the epoch, ascending, no duplicates
    values: Sequence[float]  # may hold the staleness NaN (see is_stale)


class SampleReader(Protocol):
    def select(
        self,
        matchers: Sequence[Matcher],
        start_ms: int,
        end_ms: int,
        *,
        resolution_ms: int = 0,
    ) -> list[SeriesSamples]:
        """Series matching every matcher, with their samples in ``[start_ms, end_ms]``.

        ``resolution_ms`` is the coarsest spacing the caller can use (the query step).
        Where raw samples no longer cover the range (past raw retention), the store may
        answer from its minute/hour rollups, one sample per bucket at the bucket's end
        holding the bucket's last value (so counters stay cumulative).
        """
        ...

    def series(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[Labels]:
        """Label sets of the series matching, that have samples in the range."""
        ...

    def label_names(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[str]: ...

    def label_values(
        self, name: str, matchers: Sequence[Matcher], start_ms: int, end_ms: int
    ) -> list[str]: ...
