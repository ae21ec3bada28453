"""Metadata queries (labels with a selector, volume grouping, detected field types)."""

from __future__ import annotations

import sqlite3

from compat_loki.query import ast, meta
from compat_loki.query.parser import parse
from compat_loki.query.rangeagg import Deadline
from compat_loki.store import StoreReader
from core.labels import Labels
from tests.compat_loki.query.logqltest import load

S = 10**9
LINES = [
    '{app="a", env="prod"} 1s {"took":"150ms","size":"2KB","ok":true,"ratio":0.5,"n":3}',
    '{app="a", env="dev"} 2s {"took":"1s","size":"10KB","ok":false,"ratio":2,"n":4}',
    '{app="b", env="prod"} 3s took=5ms size=1MiB ok=true n=x',
]


def _q(text: str) -> ast.LogQuery:
    q = parse(text)
    assert isinstance(q, ast.LogQuery)
    return q


def test_label_names_and_series(store_conn: sqlite3.Connection) -> None:
    load(store_conn, LINES)
    r = StoreReader(store_conn)
    assert meta.label_names(r, None, 0, 10 * S) == ["app", "env"]
    assert meta.label_names(r, _q('{app="b"}').matchers, 0, 10 * S) == ["app", "env"]
    got = meta.series(r, [_q('{env="prod"}').matchers], 0, 10 * S)
    assert got == [{"app": "a", "env": "prod"}, {"app": "b", "env": "prod"}]


def test_volume_groups_by_selector_labels_or_targets(store_conn: sqlite3.Connection) -> None:
    load(store_conn, LINES)
    r = StoreReader(store_conn)
    q = _q('{app=~".+"}')
    sizes = [len(text.split("} ", 1)[1].split(" ", 1)[1].encode()) for text in LINES]
    by_app = meta.volume(r, q, 0, 10 * S, None, meta.volume_labels(q, []), 100, Deadline(5))
    assert {k: sum(v.values()) for k, v in by_app.items()} == {
        Labels.of(app="a"): sizes[0] + sizes[1],
        Labels.of(app="b"): sizes[2],
    }
    by_env = meta.volume(r, q, 0, 10 * S, 2 * S, ["env"], 1, Deadline(5))
    assert list(by_env) == [Labels.of(env="prod")]  # limit 1: the biggest group
    assert meta.index_stats(r, q, 0, 10 * S, Deadline(5)) == {
        "streams": 3,
        "chunks": 3,
        "bytes": sum(sizes),
        "entries": 3,
    }


def test_detected_field_types(store_conn: sqlite3.Connection) -> None:
    load(store_conn, LINES)
    r = StoreReader(store_conn)
    fields = meta.sample_fields(r, _q('{app=~".+"}'), 0, 10 * S, 1000, Deadline(5))
    found = {f["label"]: f for f in meta.detected_fields(fields, 100)}
    assert found["took"]["type"] == "duration"
    assert found["size"]["type"] == "bytes"
    assert found["ok"]["type"] == "boolean"
    assert found["ratio"]["type"] == "float"  # 0.5 and 2: int and float merge to float
    assert found["n"]["type"] == "string"  # 3, 4 and "x"
    assert found["took"]["parsers"] == ["json", "logfmt"]
    assert found["took"]["cardinality"] == 3
    labels = meta.detected_labels(r, None, 0, 10 * S)
    assert labels == [{"label": "app", "cardinality": 2}, {"label": "env", "cardinality": 2}]
