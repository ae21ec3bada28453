"""Each service's Alembic history, run at start-up and by ``flowmon migrate``.

Every service keeps its scripts in ``<package>/migrations`` (``env.py`` calls ``run_env``)
and names its head revision in a constant; a test proves the constant matches the scripts.
Start-up compares that constant with the database's ``alembic_version`` through plain
sqlite3 and imports Alembic only when they differ, which keeps ~22 MB of Alembic and
SQLAlchemy out of the RSS of a service whose database is current (see ``core.db``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.fsmodes import ensure_private_file


def current_revision(path: Path) -> str | None:
    if not path.exists():
        return None
    conn = sqlite3.connect(str(path))
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return str(row[0]) if row else None


def upgrade(path: Path, script_location: Path, head: str) -> bool:
    """Bring the database at ``path`` to ``head``; return whether anything ran."""
    ensure_private_file(path)
    if current_revision(path) == head:
        return False
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    command.upgrade(config, "head")
    return True


def script_head(script_location: Path) -> str | None:
    """The head revision of a migrations folder, as Alembic computes it."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(script_location))
    return ScriptDirectory.from_config(config).get_current_head()


def run_env() -> None:
    """Body of every service's ``migrations/env.py`` (online mode only)."""
    from alembic import context
    from sqlalchemy import create_engine, pool

    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None, "flowmon sets sqlalchemy.url before running migrations"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
