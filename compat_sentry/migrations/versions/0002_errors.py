"""error tracker schema: error groups (SPEC §4.3), events, hourly counts, alert outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Why the shape:
- ``errors`` is SPEC §4.3.1's entity (one row per fingerprint = one group) with the four
  indexes of §4.3.2 under their SPEC names, plus a UNIQUE index on ``fingerprint`` that
  the ingest upsert relies on (one group per fingerprint; regressions reopen the row).
- ``events`` keeps the newest EVENTS_PER_GROUP events of each group as zlib-compressed
  JSON (the full event as the client sent it). ``event_id`` is 16 raw bytes rather than
  32 hex characters: it is indexed, and the index is a large part of the per-event bytes.
- ``group_environments``: every environment a group occurred in. The SPEC fingerprint has
  no environment, so one bug seen in dev and prod is one group; the environment filter
  (ET-041) must still find it under both.
- ``group_hours`` counts events per group and hour for the 24 h sparkline; the events
  table cannot, since it only keeps the newest events of busy groups.
- ``IF NOT EXISTS`` throughout: for a few hours of development 0001 briefly held these
  tables, and a database made then must still upgrade.
- ``alert_outbox`` is the durable queue of alert mails (DESIGN §3): a mail is a row before
  it is a request, so a crash or a Postmark outage loses none; ``dedupe_key`` is UNIQUE so
  one fingerprint can never be mailed twice.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS errors (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint VARCHAR(32) NOT NULL,
        project VARCHAR(100) NOT NULL,
        environment VARCHAR(20) NOT NULL DEFAULT 'prod',
        exception_type VARCHAR(200) NOT NULL,
        message TEXT NOT NULL,
        traceback TEXT NOT NULL,
        request_url VARCHAR(500),
        request_method VARCHAR(10),
        request_headers TEXT,
        user_id VARCHAR(100),
        extra TEXT,
        count INTEGER NOT NULL DEFAULT 1,
        first_seen DATETIME NOT NULL,
        last_seen DATETIME NOT NULL,
        resolved BOOLEAN NOT NULL DEFAULT 0,
        resolved_at DATETIME,
        level VARCHAR(16) NOT NULL DEFAULT 'error',
        release VARCHAR(200)
    )
    """,
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_fingerprint ON errors (fingerprint)",
    "CREATE INDEX IF NOT EXISTS idx_fingerprint_resolved ON errors (fingerprint, resolved)",
    "CREATE INDEX IF NOT EXISTS idx_project_env ON errors (project, environment)",
    "CREATE INDEX IF NOT EXISTS idx_last_seen ON errors (last_seen)",
    "CREATE INDEX IF NOT EXISTS idx_resolved ON errors (resolved)",
    "CREATE INDEX IF NOT EXISTS idx_first_seen ON errors (first_seen)",
    """
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        group_id INTEGER NOT NULL REFERENCES errors (id) ON DELETE CASCADE,
        event_id BLOB NOT NULL,
        received REAL NOT NULL,
        data BLOB NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_events_event_id ON events (event_id)",
    "CREATE INDEX IF NOT EXISTS idx_events_group ON events (group_id, id)",
    """
    CREATE TABLE IF NOT EXISTS group_environments (
        environment VARCHAR(20) NOT NULL,
        group_id INTEGER NOT NULL REFERENCES errors (id) ON DELETE CASCADE,
        PRIMARY KEY (environment, group_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS idx_group_environments_group ON group_environments (group_id)",
    """
    CREATE TABLE IF NOT EXISTS group_hours (
        group_id INTEGER NOT NULL REFERENCES errors (id) ON DELETE CASCADE,
        hour INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (group_id, hour)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS idx_group_hours_hour ON group_hours (hour)",
    """
    CREATE TABLE IF NOT EXISTS alert_outbox (
        id INTEGER PRIMARY KEY,
        kind VARCHAR(16) NOT NULL,
        dedupe_key TEXT NOT NULL UNIQUE,
        group_id INTEGER,
        recipients TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        status VARCHAR(16) NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL,
        created REAL NOT NULL,
        sent REAL,
        last_error TEXT
    )
    """,
    "CREATE INDEX IF NOT EXISTS idx_outbox_status ON alert_outbox (status, next_attempt)",
    "CREATE INDEX IF NOT EXISTS idx_outbox_sent ON alert_outbox (sent)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("alert_outbox", "group_hours", "group_environments", "events", "errors"):
        op.execute(f"DROP TABLE {table}")
