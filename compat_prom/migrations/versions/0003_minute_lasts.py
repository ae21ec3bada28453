"""minute_lasts: each series' minute-rollup (last_ms, last) of one hour packed in one blob

A PromQL panel at a step of a minute or more reads ~1,440 minute points per series over
24 h; as rollup rows that cost ~0.4 µs a row through the sqlite3 module (~200 ms for 200
series), as one blob per series and hour it is an ``array`` decode. Written by the rollup
job together with the minute rows (``store.pack_minute_lasts``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import itertools
from array import array

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """CREATE TABLE minute_lasts (
            series_id INTEGER NOT NULL, hour INTEGER NOT NULL, data BLOB NOT NULL,
            PRIMARY KEY (series_id, hour)
        ) WITHOUT ROWID"""
    )
    op.execute("CREATE INDEX minute_lasts_hour ON minute_lasts(hour)")
    # Pack the minute rollups already there (same layout as store.pack_minute_lasts).
    bind = op.get_bind()
    rows = bind.exec_driver_sql(
        "SELECT series_id, bucket / 3600000 * 3600000, last_ms, last FROM rollups"
        " WHERE res = 60000 AND last IS NOT NULL ORDER BY series_id, bucket"
    ).fetchall()
    blobs = []
    for (sid, hour), group in itertools.groupby(rows, key=lambda r: (r[0], r[1])):
        points = list(group)
        data = array("q", [p[2] for p in points]).tobytes()
        blobs.append((sid, hour, data + array("d", [p[3] for p in points]).tobytes()))
    if blobs:
        bind.exec_driver_sql(
            "INSERT INTO minute_lasts (series_id, hour, data) VALUES (?, ?, ?)", blobs
        )


def downgrade() -> None:
    op.execute("DROP TABLE minute_lasts")
