"""``flowmon`` as a real subprocess: start, answer, stop cleanly; the small commands."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.cli import main
from tests.conftest import TEST_KEY, free_ports

FLOWMON = [sys.executable, "-m", "core.cli"]


def env_for(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_PORT", "API_KEY"))}
    env.update({"DATA_DIR": str(data), "LOGS_LOG_SOURCES": str(data / "docker"), **extra})
    return env


def wait_healthy(urls: list[str], proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending:
        if proc.poll() is not None:
            raise AssertionError(f"flowmon exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no /health from {pending}")
        try:
            if httpx.get(pending[0] + "/health", timeout=1).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


def test_all_serves_three_services_and_stops_on_sigterm(tmp_path: Path) -> None:
    ports = free_ports(("errors", "logs", "metrics"))
    args = [*FLOWMON, "all"] + [f"--{n}-port={p}" for n, p in ports.items()]
    proc = subprocess.Popen(
        args,
        env=env_for(tmp_path / "data"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy([f"http://127.0.0.1:{p}" for p in ports.values()], proc)
        bodies = {n: httpx.get(f"http://127.0.0.1:{p}/health").json() for n, p in ports.items()}
        assert all(b["status"] == "ok" for b in bodies.values())
        time.sleep(0.3)  # let the banner print
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        out, _ = proc.communicate(timeout=10)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert took < 5
    assert "Traceback" not in out
    key = (tmp_path / "data" / "api_key").read_text().strip()
    assert f"API key: {key}" in out
    assert "DSN of flowrent: http://" in out and f"@127.0.0.1:{ports['errors']}/1" in out
    for name in ("errors", "logs", "metrics"):
        assert f"http://127.0.0.1:{ports[name]}" in out
        wal = tmp_path / "data" / f"{name}.db-wal"
        assert not wal.exists() or wal.stat().st_size == 0, f"{name} WAL not checkpointed"


def test_short_key_is_refused_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*FLOWMON, "all"],
        env=env_for(tmp_path, API_KEY="too-short"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "flowmon: API_KEY: must be at least 32 characters (got 9); "
        "generate one with `openssl rand -base64 32`"
    ]


def test_migrate_project_and_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv("API_KEY", TEST_KEY)
    for name in (
        "ERRORS_DATABASE_URL",
        "LOGS_DATABASE_URL",
        "METRICS_DATABASE_URL",
        "DATABASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    assert main(["migrate"]) == 0
    assert "migrated" in capsys.readouterr().out
    assert main(["migrate", "errors"]) == 0
    assert "already current" in capsys.readouterr().out

    assert main(["project", "create", "shop"]) == 0
    line = capsys.readouterr().out.strip()
    name, pid, dsn = line.split("\t")
    assert name == "shop" and dsn.endswith(f"/{pid}") and dsn.startswith("http://")
    assert main(["project", "list"]) == 0
    assert "shop\t" in capsys.readouterr().out

    assert main(["backup", str(tmp_path / "bk")]) == 0
    conn = sqlite3.connect(tmp_path / "bk" / "errors.db")
    assert conn.execute("SELECT name FROM projects").fetchall() == [("shop",)]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert oct((tmp_path / "bk" / "errors.db").stat().st_mode & 0o777) == "0o600"
