"""Alembic environment of this service: shared body in ``core.migrations.run_env``."""

from core.migrations import run_env

run_env()
