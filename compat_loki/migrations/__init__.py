"""Alembic scripts of this service (SQL lives here and in store.py only)."""
