"""The ``flowmon`` command: run one service or all three, migrate, back up.

``core`` may not import the services (import-linter contract), yet the CLI is where they
are put together; so the table below names their modules and they are imported by name.
Each service module provides ``SETTINGS``, ``create_app(settings)``, ``banner(app)`` and
optionally ``cli(argv, settings)`` for its own sub-commands.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from core import memory
from core.settings import CommonSettings, SettingsError, load_settings

SERVICES: dict[str, str] = {
    "errors": "compat_sentry.service",
    "logs": "compat_loki.service",
    "metrics": "compat_prom.service",
}
SUBCOMMAND_OWNERS: dict[str, str] = {"project": "errors"}
DEMO_MODULE = "flowrent_patch.demo"  # `flowmon demo`; imported by name like SERVICES
GRACEFUL_SECONDS = 3

log = logging.getLogger("flowmon")


def service_module(name: str) -> ModuleType:
    return importlib.import_module(SERVICES[name])


def settings_for(name: str, *, multi: bool = False, **overrides: Any) -> CommonSettings:
    cls: type[CommonSettings] = service_module(name).SETTINGS
    return load_settings(cls, multi=multi, **overrides)


def configure_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    # Alembic narrates every plugin it loads; the migration lines we keep at WARNING+.
    logging.getLogger("alembic").setLevel(logging.WARNING)


async def serve(apps: Sequence[tuple[str, Any, CommonSettings]]) -> None:
    """Serve several ASGI apps in this process and loop, each on its own port."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # One handler for all servers is installed below; uvicorn's own would let
            # only the last server hear the signal.
            yield

    servers = []
    for _, app, settings in apps:
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
        )
        servers.append(Server(config))

    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            stop()
            break
        await asyncio.sleep(0.02)
    else:
        for name, app, _ in apps:
            for line in service_module(name).banner(app):
                print(f"[{name}] {line}", flush=True)
        memory.settle_gc()
        print("flowmon is ready; Ctrl-C stops it.", flush=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        exc = task.exception()
        if exc is not None:
            raise exc


def run_services(names: Sequence[str], overrides: dict[str, dict[str, Any]]) -> int:
    memory.limit_arenas()  # before the writer, tailer and request threads exist
    # FastAPI imports pydantic.v1 (a second copy of pydantic, ~1.4 MB RSS) only to check
    # that no route parameter is a v1 model, and answers "no" when it cannot be imported:
    # flowmon declares none, so the serving process never loads it.
    sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]
    multi = len(names) > 1
    apps = []
    for name in names:
        settings = settings_for(name, multi=multi, **overrides.get(name, {}))
        configure_logging(settings.log_level)
        apps.append((name, service_module(name).create_app(settings), settings))
    try:
        import uvloop

        uvloop.run(serve(apps))
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        asyncio.run(serve(apps))
    return 0


def cmd_migrate(names: Sequence[str]) -> int:
    from core import migrations

    for name in names:
        module = service_module(name)
        settings = settings_for(name, multi=len(names) > 1)
        ran = migrations.upgrade(settings.database_path, module.MIGRATIONS, module.HEAD)
        print(f"{name}: {settings.database_path} {'migrated' if ran else 'already current'}")
    return 0


def cmd_backup(target: Path, names: Sequence[str]) -> int:
    """Consistent copies through SQLite's online backup API, safe while services write."""
    from core.fsmodes import ensure_private_dir, ensure_private_file

    ensure_private_dir(target)
    for name in names:
        # One named service reads its settings as when it runs alone (so the SPEC's
        # unprefixed DATABASE_URL inside its container is honoured).
        settings = settings_for(name, multi=len(names) > 1)
        source_path = settings.database_path
        if not source_path.exists():
            print(f"{name}: no database at {source_path}, skipped")
            continue
        dest_path = target / f"{name}.db"
        ensure_private_file(dest_path)
        started = time.monotonic()
        source = sqlite3.connect(str(source_path))
        dest = sqlite3.connect(str(dest_path))
        try:
            source.backup(dest, pages=1024, sleep=0.001)
        finally:
            dest.close()
            source.close()
        took = time.monotonic() - started
        print(
            f"{name}: {source_path} -> {dest_path} ({dest_path.stat().st_size} bytes, {took:.2f}s)"
        )
    return 0


def service_running(settings: CommonSettings) -> bool:
    """Whether something answers on this service's port: restoring beneath a running
    service would leave its writer and caches on data that changed under them."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    try:
        with socket.create_connection((host, settings.port), timeout=0.5):
            return True
    except OSError:
        return False


def cmd_restore(source: Path, names: Sequence[str], *, force: bool = False) -> int:
    """Put back what ``flowmon backup`` wrote: SQLite's online backup API in reverse.

    Every backup is checked (``PRAGMA integrity_check``) before any database is touched,
    and a service still answering on its port is refused unless ``force``."""
    from core.fsmodes import ensure_private_file

    found = [name for name in names if (source / f"{name}.db").is_file()]
    if not found:
        print(f"flowmon: no backups ({', '.join(n + '.db' for n in names)}) in {source}")
        return 1
    plans = []
    for name in found:
        settings = settings_for(name, multi=len(found) > 1)
        if not force and service_running(settings):
            print(
                f"flowmon: the {name} service answers on port {settings.port}; stop it "
                "before restoring (or pass --force)",
                file=sys.stderr,
            )
            return 1
        backup = sqlite3.connect(str(source / f"{name}.db"))
        try:
            check = backup.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            check = str(exc)
        finally:
            backup.close()
        if check != "ok":
            print(f"flowmon: {source / (name + '.db')} is damaged: {check}", file=sys.stderr)
            return 1
        plans.append((name, source / f"{name}.db", settings.database_path))
    for name, backup_path, target in plans:
        ensure_private_file(target)
        src = sqlite3.connect(str(backup_path))
        dest = sqlite3.connect(str(target), timeout=10)
        try:
            src.backup(dest, pages=1024, sleep=0.001)
        finally:
            dest.close()
            src.close()
        print(f"{name}: {backup_path} -> {target} (migrations run at the next start)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowmon", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    every = sub.add_parser("all", help="run the three services in one process")
    every.add_argument("--host")
    for name in SERVICES:
        every.add_argument(f"--{name}-port", type=int, dest=f"{name}_port")
    for name in SERVICES:
        one = sub.add_parser(name, help=f"run the {name} service alone")
        one.add_argument("--host")
        one.add_argument("--port", type=int)
    migrate = sub.add_parser("migrate", help="bring the databases to the newest schema")
    # No argparse `choices` here: Python 3.11 rejects an empty list against them.
    migrate.add_argument("services", nargs="*", metavar="{errors,logs,metrics}")
    backup = sub.add_parser("backup", help="copy the databases consistently into DIR")
    backup.add_argument("dir", type=Path)
    backup.add_argument("services", nargs="*", metavar="{errors,logs,metrics}")
    restore = sub.add_parser("restore", help="put back the databases `backup` wrote to DIR")
    restore.add_argument("dir", type=Path)
    restore.add_argument("services", nargs="*", metavar="{errors,logs,metrics}")
    restore.add_argument("--force", action="store_true", help="even if a service answers")
    for command, owner in SUBCOMMAND_OWNERS.items():
        owned = sub.add_parser(command, help=f"{command} commands of the {owner} service")
        owned.add_argument("args", nargs=argparse.REMAINDER)
    demo = sub.add_parser("demo", help="run the FlowRent-like demo app", add_help=False)
    demo.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:  # its own options (argparse's REMAINDER refuses a leading --x)
        demo_result: int = importlib.import_module(DEMO_MODULE).main(argv[1:])
        return demo_result
    args = build_parser().parse_args(argv)
    try:
        if args.command == "all":
            overrides = {
                name: {"host": args.host, "port": getattr(args, f"{name}_port")}
                for name in SERVICES
            }
            return run_services(list(SERVICES), overrides)
        if args.command in SERVICES:
            overrides = {args.command: {"host": args.host, "port": args.port}}
            return run_services([args.command], overrides)
        if args.command == "migrate":
            unknown = [s for s in args.services if s not in SERVICES]
            if unknown:
                print(f"flowmon: unknown service {unknown[0]!r}", file=sys.stderr)
                return 2
            return cmd_migrate(args.services or list(SERVICES))
        if args.command == "backup":
            unknown = [s for s in args.services if s not in SERVICES]
            if unknown:
                print(f"flowmon: unknown service {unknown[0]!r}", file=sys.stderr)
                return 2
            return cmd_backup(args.dir, args.services or list(SERVICES))
        if args.command == "restore":
            unknown = [s for s in args.services if s not in SERVICES]
            if unknown:
                print(f"flowmon: unknown service {unknown[0]!r}", file=sys.stderr)
                return 2
            return cmd_restore(args.dir, args.services or list(SERVICES), force=args.force)
        owner = SUBCOMMAND_OWNERS[args.command]
        settings = settings_for(owner)
        result: int = service_module(owner).cli([args.command, *args.args], settings)
        return result
    except SettingsError as exc:
        print(f"flowmon: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
