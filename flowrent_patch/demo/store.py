"""Bookings in SQLite (FlowRent keeps its data in SQLite too); one short connection a call.

A file, not a dict, so several uvicorn workers see the same bookings, as FlowRent's
4 workers do.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS bookings (
    id INTEGER PRIMARY KEY,
    item_type TEXT NOT NULL,
    customer_email TEXT NOT NULL,
    customer_phone TEXT NOT NULL,
    start_date TEXT NOT NULL,
    days INTEGER NOT NULL,
    price_eur REAL NOT NULL,
    status TEXT NOT NULL,
    paid_with TEXT,
    created REAL NOT NULL
)
"""


class BookingStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _one(self, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        conn = self._connect()
        try:
            row = conn.execute(sql, args).fetchone()
        finally:
            conn.close()
        return dict(row) if row is not None else None

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        conn = self._connect()
        try:
            cur = conn.execute(sql, args)
            return int(cur.lastrowid or 0) if sql.startswith("INSERT") else cur.rowcount
        finally:
            conn.close()

    def create(
        self, item_type: str, email: str, phone: str, start_date: str, days: int, price: float
    ) -> int:
        return self._write(
            "INSERT INTO bookings (item_type, customer_email, customer_phone, start_date, days,"
            " price_eur, status, created) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
            (item_type, email, phone, start_date, days, price, time.time()),
        )

    def get(self, booking_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM bookings WHERE id = ?", (booking_id,))

    def set_status(self, booking_id: int, status: str) -> None:
        self._write("UPDATE bookings SET status = ? WHERE id = ?", (status, booking_id))

    def set_paid(self, booking_id: int, method: str) -> None:
        self._write("UPDATE bookings SET paid_with = ? WHERE id = ?", (method, booking_id))

    def booked(self, item_type: str, date: str) -> int:
        row = self._one(
            "SELECT count(*) AS n FROM bookings WHERE item_type = ? AND start_date = ?"
            " AND status != 'cancelled'",
            (item_type, date),
        )
        return int(row["n"]) if row else 0

    def confirmed(self, limit: int) -> list[dict[str, Any]]:
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT * FROM bookings WHERE status = 'confirmed' ORDER BY random() LIMIT ?",
                (limit,),
            ).fetchall()
        finally:
            conn.close()
        return [dict(r) for r in rows]
