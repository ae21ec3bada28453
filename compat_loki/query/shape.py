"""Engine results → Loki's JSON bodies, in the field order Grafana's streaming parser needs.

Grafana reads Loki answers with a streaming JSON iterator (``pkg/util/converter/prom.go``),
so order matters: ``status`` then ``data``; inside ``data`` ``resultType`` and
``encodingFlags`` come before ``result``. Stream values are ``["<ns string>", "<line>"]``,
with a third element only when the request asked for ``categorize-labels`` (the older
converter reads exactly two). Matrix/vector times are JSON numbers in seconds with a
millisecond fraction; sample values are strings. Pure: plain dicts out, no HTTP.
"""

from __future__ import annotations

from typing import Any

from compat_loki.query.results import (
    MatrixResult,
    Result,
    ScalarResult,
    Stats,
    StreamsResult,
    VectorResult,
    format_value,
)

CATEGORIZE = "categorize-labels"


def seconds(ts_ns: int) -> float | int:
    ms = ts_ns // 1_000_000
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def stats_json(stats: Stats) -> dict[str, Any]:
    """Loki's ``data.stats`` (Grafana copies it into the frame meta / query inspector)."""
    exec_s = max(stats.exec_seconds, 1e-9)
    return {
        "summary": {
            "bytesProcessedPerSecond": int(stats.bytes_processed / exec_s),
            "linesProcessedPerSecond": int(stats.lines_processed / exec_s),
            "totalBytesProcessed": stats.bytes_processed,
            "totalLinesProcessed": stats.lines_processed,
            "execTime": stats.exec_seconds,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": stats.entries_returned,
            "splits": 0,
            "shards": 0,
            "totalPostFilterLines": stats.entries_returned,
            "totalStructuredMetadataBytesProcessed": 0,
        },
        "querier": {
            "store": {
                "totalChunksRef": 0,
                "totalChunksDownloaded": 0,
                "chunksDownloadTime": 0,
                "queryReferencedStructuredMetadata": False,
                "chunk": {
                    "headChunkBytes": 0,
                    "headChunkLines": 0,
                    "decompressedBytes": stats.bytes_processed,
                    "decompressedLines": stats.lines_processed,
                    "compressedBytes": 0,
                    "totalDuplicates": 0,
                    "postFilterLines": stats.entries_returned,
                    "headChunkStructuredMetadataBytes": 0,
                    "decompressedStructuredMetadataBytes": 0,
                },
            }
        },
        "ingester": {
            "totalReached": 0,
            "totalChunksMatched": 0,
            "totalBatches": 0,
            "totalLinesSent": 0,
            "store": {"totalChunksRef": 0, "totalChunksDownloaded": 0, "chunksDownloadTime": 0},
        },
        "cache": {},
        "index": {"totalChunks": 0, "postFilterChunks": 0, "shardsDuration": 0},
    }


def _streams(result: StreamsResult, categorize: bool) -> list[dict[str, Any]]:
    out = []
    for labels, lines in result.streams:
        if categorize:
            values: list[list[Any]] = []
            for ln in lines:
                extra: dict[str, Any] = {}
                if ln.metadata:
                    extra["structuredMetadata"] = ln.metadata
                if ln.parsed:
                    extra["parsed"] = ln.parsed
                values.append([str(ln.ts_ns), ln.line, extra])
        else:
            values = [[str(ln.ts_ns), ln.line] for ln in lines]
        out.append({"stream": dict(labels.items_tuple), "values": values})
    return out


def result_data(result: Result, categorize: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"resultType": result.kind}
    if categorize and isinstance(result, StreamsResult):
        data["encodingFlags"] = [CATEGORIZE]
    if isinstance(result, StreamsResult):
        data["result"] = _streams(result, categorize)
    elif isinstance(result, MatrixResult):
        data["result"] = [
            {
                "metric": dict(labels.items_tuple),
                "values": [[seconds(t), format_value(v)] for t, v in points],
            }
            for labels, points in result.series
        ]
    elif isinstance(result, VectorResult):
        data["result"] = [
            {"metric": dict(labels.items_tuple), "value": [seconds(t), format_value(v)]}
            for labels, t, v in result.samples
        ]
    else:
        assert isinstance(result, ScalarResult)
        data["result"] = [seconds(result.ts_ns), format_value(result.value)]
    data["stats"] = stats_json(result.stats)
    return data


def success(data: Any) -> dict[str, Any]:
    return {"status": "success", "data": data}


def tail_message(result: StreamsResult) -> dict[str, Any]:
    return {"streams": _streams(result, False), "dropped_entries": None}
