"""Log queries: the newest (or oldest) ``limit`` lines that come out of the pipeline.

Reading strategy, for a query with ``|= "x"`` filters in front (Explore's search box):
matching lines are usually either common (an error word in a busy log) or rare. The store
answers rare needles fast through its trigram index, but for common ones the index hands
back every candidate in the range to be sorted. So we first **probe**: read up to
``PROBE_ROWS`` lines in time order without the index and filter them here; when that fills
``limit`` we are done in a few milliseconds. If the hit rate seen so far predicts ``limit``
within ``MAX_PLAIN_ROWS`` lines the probe goes on, otherwise the rest of the range (the part
the probes did not cover) is read through the index. Without such filters lines are read in
order and the store's ``limit`` applies when the pipeline cannot drop any line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from compat_loki.query import ast
from compat_loki.query.rangeagg import CHECK_EVERY, Deadline, LabelCache
from compat_loki.query.reader import Direction, Entry, LogReader
from compat_loki.query.results import LogLine, Stats, StreamsResult
from compat_loki.query.stages import Pipeline, Row, pushable_contains
from core.labels import Labels

PROBE_ROWS = 2048
MAX_PLAIN_ROWS = 65_536  # beyond this the index is the cheaper way (~1.5 µs a plain row)


class _Collector:
    def __init__(
        self,
        q: ast.LogQuery,
        streams: dict[int, Labels],
        limit: int,
        categorize: bool,
        stats: Stats,
        deadline: Deadline,
    ) -> None:
        self.plain = not q.stages
        self.pipeline = Pipeline(q.stages)
        self.labels_of = streams
        self.dicts = {sid: dict(labels.items_tuple) for sid, labels in streams.items()}
        self.limit = limit
        self.categorize = categorize
        self.stats = stats
        self.deadline = deadline
        self.cache = LabelCache()
        self.out: dict[Labels, list[LogLine]] = {}
        self.taken = 0
        self.read = 0

    @property
    def full(self) -> bool:
        return self.taken >= self.limit

    def add(self, entry: Entry) -> None:
        if self.read % CHECK_EVERY == 0:
            self.deadline.check()
        self.read += 1
        self.stats.lines_processed += 1
        self.stats.bytes_processed += len(entry.line)
        row = self.pipeline.run(
            Row(entry.ts_ns, entry.line, self.dicts[entry.stream_id], entry.metadata)
        )
        if row is None:
            return
        if self.categorize:
            key = self.cache.get(
                {k: v for k, v in row.labels.items() if k not in row.parsed and k not in row.meta}
            )
            meta = {k: row.labels[k] for k in row.meta if row.labels.get(k)}
            parsed = {k: row.labels[k] for k in sorted(row.parsed) if row.labels.get(k)}
            line = LogLine(entry.ts_ns, row.line, meta, parsed)
        else:
            plain = self.plain and not entry.metadata
            key = self.labels_of[entry.stream_id] if plain else self.cache.get(row.labels)
            line = LogLine(entry.ts_ns, row.line)
        self.out.setdefault(key, []).append(line)
        self.taken += 1

    def consume(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self.add(entry)
            if self.full:
                return

    def result(self) -> StreamsResult:
        self.stats.entries_returned = self.taken
        ordered = sorted(self.out.items(), key=lambda kv: kv[0].items_tuple)
        return StreamsResult(ordered, self.stats)


def run_log_query(
    reader: LogReader,
    q: ast.LogQuery,
    start_ns: int,
    end_ns: int,
    direction: Direction,
    limit: int,
    categorize: bool,
    stats: Stats,
    deadline: Deadline,
    probe_rows: int = PROBE_ROWS,
    max_plain_rows: int = MAX_PLAIN_ROWS,
) -> StreamsResult:
    if limit <= 0:
        return StreamsResult([], stats)
    streams = reader.streams(q.matchers, start_ns, end_ns)
    if not streams:
        return StreamsResult([], stats)
    ids = [s.id for s in streams]
    c = _Collector(q, {s.id: s.labels for s in streams}, limit, categorize, stats, deadline)
    needles, only_filters = pushable_contains(q.stages)
    backward = direction == "backward"
    if not needles:
        c.consume(
            reader.entries(
                ids, start_ns, end_ns, direction=direction, limit=limit if only_filters else None
            )
        )
        return c.result()
    lo, hi = start_ns, end_ns
    edge: int | None = None
    at_edge: Counter[tuple[int, str]] = Counter()
    budget, probed_total = probe_rows, 0
    while True:  # probe without the index, growing while the hit rate says it pays
        probed = 0
        previous_edge = edge
        rows = reader.entries(ids, lo, hi, direction=direction, limit=budget)
        for entry in rows if edge is None else _skip_edge(rows, edge, at_edge.copy()):
            probed += 1
            if entry.ts_ns != edge:
                edge = entry.ts_ns
                at_edge.clear()
            at_edge[(entry.stream_id, entry.line)] += 1
            c.add(entry)
            if c.full:
                return c.result()
        if probed < budget or edge is None:
            return c.result()  # the probes read the whole range
        probed_total += probed
        lo, hi = (lo, edge + 1) if backward else (edge, hi)
        rate = c.taken / probed_total
        wanted = (limit - c.taken) / rate if rate else float("inf")
        if edge == previous_edge or wanted > max_plain_rows - probed_total:
            break
        budget = int(wanted * 1.5) + 64
    rest = reader.entries(ids, lo, hi, direction=direction, contains=needles, limit=None)
    c.consume(_skip_edge(rest, edge, at_edge))
    return c.result()


def _skip_edge(
    entries: Iterable[Entry], edge: int, seen: Counter[tuple[int, str]]
) -> Iterable[Entry]:
    """Drop the lines at the probe's last timestamp that the probe already took."""
    for entry in entries:
        if entry.ts_ns == edge:
            key = (entry.stream_id, entry.line)
            if seen[key] > 0:
                seen[key] -= 1
                continue
        yield entry
