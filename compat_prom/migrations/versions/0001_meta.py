"""meta: small key/value facts about the service's data (last ingest, last rollup)

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def downgrade() -> None:
    op.execute("DROP TABLE meta")
