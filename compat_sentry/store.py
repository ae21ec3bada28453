"""All SQL of the error tracker: projects, groups (SPEC §4.3), events, hourly counts, outbox.

Functions take a ``sqlite3.Connection``: a read connection from ``ctx.db.read()`` or the
writer's connection inside a ``ctx.writer.run`` job (never COMMIT here: the writer commits
a whole batch of jobs at once, which is where ingest throughput comes from).

Per stored event the hot path runs six short statements on indexed keys (duplicate check,
group lookup, group insert/update, event insert, environment and hourly-count upserts) and,
every ``TRIM_EVERY`` occurrences of a group, one ranged delete that keeps the newest
EVENTS_PER_GROUP events. Trimming in steps rather than per event turns a delete (with a
scan of the group's newest N index entries) per event into one per TRIM_EVERY events; the
price is a busy group briefly holding up to N + TRIM_EVERY - 1 events, which no reader
sees (reads always ask for the newest N).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from compat_sentry.record import ErrorRecord, loads_stored

TRIM_EVERY = 16
GROUP_COLUMNS = (
    "id, fingerprint, project, environment, exception_type, message, traceback, request_url, "
    "request_method, request_headers, user_id, extra, count, first_seen, last_seen, resolved, "
    "resolved_at, level, release"
)
LIST_COLUMNS = (
    "id, fingerprint, project, environment, exception_type, message, request_url, count, "
    "first_seen, last_seen, resolved, level"
)


def iso(ts: float) -> str:
    """SPEC timestamps: ``2025-01-20T10:00:00Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- projects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    public_key: str


def create_project(
    conn: sqlite3.Connection,
    name: str,
    *,
    public_key: str | None = None,
    project_id: int | None = None,
) -> Project:
    key = public_key or secrets.token_hex(16)
    now = datetime.now(UTC).isoformat()
    cur = conn.execute(
        "INSERT INTO projects (id, name, public_key, created_at) VALUES (?, ?, ?, ?)",
        (project_id, name, key, now),
    )
    return Project(int(cur.lastrowid or 0), name, key)


def ensure_project(conn: sqlite3.Connection, name: str) -> Project:
    """The project called ``name``, created with a fresh public key if missing."""
    row = conn.execute(
        "SELECT id, name, public_key FROM projects WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return create_project(conn, name)
    return Project(int(row[0]), str(row[1]), str(row[2]))


def list_projects(conn: sqlite3.Connection) -> list[Project]:
    rows = conn.execute("SELECT id, name, public_key FROM projects ORDER BY id").fetchall()
    return [Project(int(r[0]), str(r[1]), str(r[2])) for r in rows]


# --- ingest --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    group_id: int
    count: int
    created: bool
    duplicate: bool = False
    regressed: bool = False


def record_event(
    conn: sqlite3.Connection, rec: ErrorRecord, data: bytes, now: float, keep: int
) -> Stored:
    """Store one occurrence: group upsert (reopening a resolved one), event, hourly count."""
    dup = conn.execute(
        "SELECT e.group_id, g.count FROM events e JOIN errors g ON g.id = e.group_id "
        "WHERE e.event_id = ?",
        (rec.event_id,),
    ).fetchone()
    if dup is not None:
        return Stored(int(dup[0]), int(dup[1]), created=False, duplicate=True)
    stamp = iso(now)
    row = conn.execute(
        "SELECT id, count, resolved FROM errors WHERE fingerprint = ?", (rec.fingerprint,)
    ).fetchone()
    if row is None:
        cur = conn.execute(
            "INSERT INTO errors (fingerprint, project, environment, exception_type, message, "
            "traceback, request_url, request_method, request_headers, user_id, extra, count, "
            "first_seen, last_seen, level, release) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
            (
                rec.fingerprint,
                rec.project,
                rec.environment,
                rec.exception_type,
                rec.message,
                rec.traceback,
                rec.request_url,
                rec.request_method,
                None if rec.request_headers is None else json.dumps(rec.request_headers),
                rec.user_id,
                None if rec.extra is None else json.dumps(rec.extra),
                stamp,
                stamp,
                rec.level,
                rec.release,
            ),
        )
        group_id, count, created, regressed = int(cur.lastrowid or 0), 1, True, False
    else:
        group_id, count, created, regressed = int(row[0]), int(row[1]) + 1, False, bool(row[2])
        conn.execute(
            "UPDATE errors SET count = ?, last_seen = ?, resolved = 0, resolved_at = NULL "
            "WHERE id = ?",
            (count, stamp, group_id),
        )
    conn.execute(
        "INSERT INTO events (group_id, event_id, received, data) VALUES (?, ?, ?, ?)",
        (group_id, rec.event_id, now, data),
    )
    conn.execute(
        "INSERT OR IGNORE INTO group_environments (environment, group_id) VALUES (?, ?)",
        (rec.environment, group_id),
    )
    conn.execute(
        "INSERT INTO group_hours (group_id, hour, n) VALUES (?, ?, 1) "
        "ON CONFLICT (group_id, hour) DO UPDATE SET n = n + 1",
        (group_id, int(now // 3600)),
    )
    if count > keep and count % TRIM_EVERY == 0:
        trim_events(conn, group_id, keep)
    return Stored(group_id, count, created=created, regressed=regressed)


def trim_events(conn: sqlite3.Connection, group_id: int, keep: int) -> int:
    cur = conn.execute(
        "DELETE FROM events WHERE group_id = ? AND id < ("
        " SELECT id FROM events WHERE group_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
        (group_id, group_id, keep - 1),
    )
    return cur.rowcount


# --- reads ---------------------------------------------------------------------------------


def _group_dict(row: sqlite3.Row | tuple[Any, ...], columns: str) -> dict[str, Any]:
    names = [c.strip() for c in columns.split(",")]
    out = dict(zip(names, row, strict=True))
    if "resolved" in out:
        out["resolved"] = bool(out["resolved"])
    for key in ("request_headers", "extra"):
        if key in out and out[key] is not None:
            out[key] = loads_stored(out[key].encode())
    return out


@dataclass
class GroupFilter:
    project: str | None = None
    environment: str | None = None
    resolved: bool | None = False
    search: str | None = None
    sort: str = "last_seen"
    limit: int = 50
    offset: int = 0


def list_groups(conn: sqlite3.Connection, f: GroupFilter) -> tuple[list[dict[str, Any]], int]:
    where: list[str] = []
    args: list[Any] = []
    if f.project:
        where.append("project = ?")
        args.append(f.project)
    if f.environment:
        where.append("id IN (SELECT group_id FROM group_environments WHERE environment = ?)")
        args.append(f.environment)
    if f.resolved is not None:
        where.append("resolved = ?")
        args.append(int(f.resolved))
    if f.search:
        pattern = "%" + f.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(exception_type LIKE ? ESCAPE '\\' OR message LIKE ? ESCAPE '\\')")
        args += [pattern, pattern]
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    order = {
        "count": "count DESC, id DESC",
        "first_seen": "first_seen DESC, id DESC",
    }.get(f.sort, "last_seen DESC, id DESC")
    total = int(conn.execute(f"SELECT count(*) FROM errors {clause}", args).fetchone()[0])
    rows = conn.execute(
        f"SELECT {LIST_COLUMNS} FROM errors {clause} ORDER BY {order} LIMIT ? OFFSET ?",
        [*args, f.limit, f.offset],
    ).fetchall()
    return [_group_dict(r, LIST_COLUMNS) for r in rows], total


def get_group(conn: sqlite3.Connection, group_id: int) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {GROUP_COLUMNS} FROM errors WHERE id = ?", (group_id,)).fetchone()
    return None if row is None else _group_dict(row, GROUP_COLUMNS)


@dataclass(frozen=True)
class StoredEvent:
    event_id: bytes
    received: float
    data: bytes


def list_events(
    conn: sqlite3.Connection, group_id: int, limit: int, offset: int = 0
) -> list[StoredEvent]:
    rows = conn.execute(
        "SELECT event_id, received, data FROM events WHERE group_id = ? "
        "ORDER BY id DESC LIMIT ? OFFSET ?",
        (group_id, limit, offset),
    ).fetchall()
    return [StoredEvent(bytes(r[0]), float(r[1]), bytes(r[2])) for r in rows]


def count_events(conn: sqlite3.Connection, group_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM events WHERE group_id = ?", (group_id,)).fetchone()
    return int(row[0])


def hourly_counts(
    conn: sqlite3.Connection, group_ids: list[int], first_hour: int, hours: int
) -> dict[int, list[int]]:
    """Events per hour for the sparkline: ``hours`` buckets starting at ``first_hour``."""
    out = {gid: [0] * hours for gid in group_ids}
    if not group_ids:
        return out
    marks = ",".join("?" * len(group_ids))
    rows = conn.execute(
        f"SELECT group_id, hour, n FROM group_hours WHERE group_id IN ({marks}) "
        "AND hour >= ? AND hour < ?",
        [*group_ids, first_hour, first_hour + hours],
    ).fetchall()
    for gid, hour, n in rows:
        out[int(gid)][int(hour) - first_hour] = int(n)
    return out


def project_names(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM projects UNION SELECT DISTINCT project FROM errors ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def environments(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT DISTINCT environment FROM group_environments ORDER BY 1").fetchall()
    return [str(r[0]) for r in rows]


def stats(conn: sqlite3.Connection) -> dict[str, int]:
    groups, unresolved, occurrences = conn.execute(
        "SELECT count(*), coalesce(sum(resolved = 0), 0), coalesce(sum(count), 0) FROM errors"
    ).fetchone()
    events = conn.execute("SELECT max(id) FROM events").fetchone()[0]
    return {
        "groups": int(groups),
        "unresolved": int(unresolved),
        "occurrences": int(occurrences),
        "events_stored_max_id": int(events or 0),
    }


# --- state changes -------------------------------------------------------------------------


def resolve(conn: sqlite3.Connection, group_id: int, now: float) -> bool:
    cur = conn.execute(
        "UPDATE errors SET resolved = 1, resolved_at = coalesce(resolved_at, ?) WHERE id = ?",
        (iso(now), group_id),
    )
    return cur.rowcount > 0


def reopen(conn: sqlite3.Connection, group_id: int) -> bool:
    cur = conn.execute(
        "UPDATE errors SET resolved = 0, resolved_at = NULL WHERE id = ?", (group_id,)
    )
    return cur.rowcount > 0


def delete_resolved_before(conn: sqlite3.Connection, cutoff: float, batch: int = 200) -> int:
    """ET-034: resolved groups resolved before ``cutoff`` go, with their events (cascade)."""
    ids = [
        int(r[0])
        for r in conn.execute(
            "SELECT id FROM errors WHERE resolved = 1 AND resolved_at < ? LIMIT ?",
            (iso(cutoff), batch),
        ).fetchall()
    ]
    if not ids:
        return 0
    marks = ",".join("?" * len(ids))
    conn.execute(f"DELETE FROM events WHERE group_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM group_hours WHERE group_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM group_environments WHERE group_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM errors WHERE id IN ({marks})", ids)
    return len(ids)


def compact_outbox(conn: sqlite3.Connection, before: float) -> int:
    """Drop the text of mails finished before ``before``; the row stays as the dedupe key."""
    return conn.execute(
        "UPDATE alert_outbox SET body = '' WHERE status != 'pending' AND created < ? "
        "AND body != ''",
        (before,),
    ).rowcount


def delete_old_hours(conn: sqlite3.Connection, before_hour: int) -> int:
    return conn.execute("DELETE FROM group_hours WHERE hour < ?", (before_hour,)).rowcount


# --- alert outbox --------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxRow:
    id: int
    kind: str
    group_id: int | None
    recipients: str
    subject: str
    body: str
    attempts: int
    created: float


def enqueue_alert(
    conn: sqlite3.Connection,
    *,
    kind: str,
    dedupe_key: str,
    group_id: int | None,
    recipients: str,
    subject: str,
    body: str,
    now: float,
    due: float | None = None,
) -> bool:
    """Queue a mail once per ``dedupe_key`` (UNIQUE): True if this call queued it."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO alert_outbox (kind, dedupe_key, group_id, recipients, subject, "
        "body, next_attempt, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (kind, dedupe_key, group_id, recipients, subject, body, now if due is None else due, now),
    )
    return cur.rowcount > 0


def due_alerts(conn: sqlite3.Connection, now: float, limit: int = 100) -> list[OutboxRow]:
    rows = conn.execute(
        "SELECT id, kind, group_id, recipients, subject, body, attempts, created "
        "FROM alert_outbox WHERE status = 'pending' AND next_attempt <= ? "
        "ORDER BY next_attempt, id LIMIT ?",
        (now, limit),
    ).fetchall()
    return [OutboxRow(*r) for r in rows]


def sent_since(conn: sqlite3.Connection, since: float) -> int:
    row = conn.execute(
        "SELECT count(*) FROM alert_outbox WHERE sent >= ? AND kind != 'summary'", (since,)
    ).fetchone()
    return int(row[0])


def suppressed_since(conn: sqlite3.Connection, since: float) -> list[str]:
    rows = conn.execute(
        "SELECT subject FROM alert_outbox WHERE status = 'suppressed' AND created >= ? ORDER BY id",
        (since,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def set_alert_status(
    conn: sqlite3.Connection,
    alert_id: int,
    status: str,
    *,
    attempts: int | None = None,
    next_attempt: float | None = None,
    sent: float | None = None,
    error: str | None = None,
    body: str | None = None,
) -> None:
    conn.execute(
        "UPDATE alert_outbox SET status = ?, attempts = coalesce(?, attempts), "
        "next_attempt = coalesce(?, next_attempt), sent = coalesce(?, sent), "
        "last_error = coalesce(?, last_error), body = coalesce(?, body) WHERE id = ?",
        (status, attempts, next_attempt, sent, error, body, alert_id),
    )


def outbox(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, kind, dedupe_key, status, attempts, subject, last_error FROM alert_outbox "
        "ORDER BY id"
    ).fetchall()
    keys = ("id", "kind", "dedupe_key", "status", "attempts", "subject", "last_error")
    return [dict(zip(keys, r, strict=True)) for r in rows]
