"""All SQL of the error tracker."""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    public_key: str


def ensure_project(conn: sqlite3.Connection, name: str) -> Project:
    """The project called ``name``, created with a fresh public key if missing."""
    row = conn.execute(
        "SELECT id, name, public_key FROM projects WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        key = secrets.token_hex(16)
        now = datetime.now(UTC).isoformat()
        cur = conn.execute(
            "INSERT INTO projects (name, public_key, created_at) VALUES (?, ?, ?)",
            (name, key, now),
        )
        return Project(int(cur.lastrowid or 0), name, key)
    return Project(int(row[0]), str(row[1]), str(row[2]))


def list_projects(conn: sqlite3.Connection) -> list[Project]:
    rows = conn.execute("SELECT id, name, public_key FROM projects ORDER BY id").fetchall()
    return [Project(int(r[0]), str(r[1]), str(r[2])) for r in rows]
