"""Each service's Alembic history, run at start-up and by ``flowmon migrate``.

Every service keeps its scripts in ``<package>/migrations`` (``env.py`` calls ``run_env``)
and names its head revision in a constant; a test proves the constant matches the scripts.
Start-up compares that constant with the database's ``alembic_version`` through plain
sqlite3; only when they differ does it run Alembic, and then in a child process
(``python -m core.migrations``), so the ~22 MB that Alembic and SQLAlchemy cost never stay
in the RSS of a running service (see ``core.db``; measured: 80.6 MB idle for ``flowmon all``
after an in-process migration, 58.5 MB without).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
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
    proc = subprocess.run(
        [sys.executable, "-m", "core.migrations", str(path), str(script_location)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"migrating {path} failed:\n{proc.stderr.strip()}")
    return True


def upgrade_in_process(path: Path, script_location: Path) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    command.upgrade(config, "head")


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


if __name__ == "__main__":
    upgrade_in_process(Path(sys.argv[1]), Path(sys.argv[2]))
