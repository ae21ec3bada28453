"""``flowmon backup DIR`` while the services write, then ``flowmon restore DIR`` (issue 9).

SPEC §9.6 asks for daily copies of the error tracker's SQLite file; docs/operations.md
documents the cron job. Here a real ``flowmon all`` takes error reports, metrics and log
pushes from three threads while ``flowmon backup`` runs as a subprocess; every copy must
pass ``PRAGMA integrity_check``. The copies are then restored into an empty data folder,
the stack restarted on it, and the errors the tracker had acknowledged before the backup
started are there. ``restore`` refuses while a service answers and refuses damaged files
without touching anything.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.deploy.stack import KEYS, SERVICES, Stack, repo_bin, start_stack

pytestmark = pytest.mark.slow


def flowmon(stack_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(repo_bin() / "flowmon"), *args],
        env=stack_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli_env(stack: Stack, data_dir: Path | None = None) -> dict[str, str]:
    env = dict(stack.env)
    env["ERRORS_API_KEY"] = KEYS["ERROR_TRACKER_API_KEY"]
    env["METRICS_API_KEY"] = KEYS["METRICS_COLLECTOR_API_KEY"]
    env["DATA_DIR"] = str(data_dir or stack.data_dir)
    for name, port in stack.ports.items():
        env[f"{name.upper()}_PORT"] = str(port)
    return env


def report_error(client: httpx.Client, stack: Stack, i: int) -> httpx.Response:
    return client.post(
        stack.url("errors") + "/api/errors",
        json={
            "project": "flowrent",
            "exception_type": "ValueError",
            "message": f"invalid booking {i}",
            "traceback": (
                "Traceback (most recent call last):\n"
                f'  File "/app/app/routes/bookings.py", line {100 + i % 7}, in create\n'
                f"ValueError: invalid booking {i}\n"
            ),
            "request_url": "/bookings",
            "request_method": "POST",
        },
        headers={"X-API-Key": KEYS["ERROR_TRACKER_API_KEY"]},
    )


def writers(stack: Stack, stop: threading.Event) -> list[threading.Thread]:
    """Three bounded writers, one per service, through their real ingest APIs."""

    def loop(send: Callable[[httpx.Client, int], httpx.Response]) -> None:
        with httpx.Client(timeout=10) as client:
            for i in range(2000):
                if stop.is_set():
                    return
                r = send(client, i)
                assert r.status_code < 300, r.text

    def metrics(client: httpx.Client, i: int) -> httpx.Response:
        items = [
            {"name": "http_requests_total", "type": "counter", "value": 1,
             "labels": {"endpoint": f"/e{j}", "method": "GET", "status": "200"}}
            for j in range(50)
        ]  # fmt: skip
        return client.post(
            stack.url("metrics") + "/api/metrics",
            json={"metrics": items},
            headers={"X-API-Key": KEYS["METRICS_COLLECTOR_API_KEY"]},
        )

    def logs(client: httpx.Client, i: int) -> httpx.Response:
        now = time.time_ns()
        values = [[str(now + j), f'level=info msg="line {i}-{j}"'] for j in range(50)]
        return client.post(
            stack.url("logs") + "/loki/api/v1/push",
            json={"streams": [{"stream": {"container": "rentl_prod"}, "values": values}]},
            headers={"X-API-Key": KEYS["LOGS_API_KEY"]},
        )

    def errors(client: httpx.Client, i: int) -> httpx.Response:
        return report_error(client, stack, i)

    threads = [
        threading.Thread(target=loop, args=(f,), daemon=True) for f in (metrics, logs, errors)
    ]
    for t in threads:
        t.start()
    return threads


def table_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        # Virtual tables (FTS5) cannot be scanned; their shadow tables hold the rows.
        tables = [name for name, sql in rows if not sql.upper().startswith("CREATE VIRTUAL")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


def test_backup_while_writing_then_restore(tmp_path: Path) -> None:
    stack = start_stack(repo_bin(), tmp_path / "live")
    backup_dir = tmp_path / "backup"
    try:
        with httpx.Client(timeout=10) as client:
            for i in range(5):
                assert report_error(client, stack, i).status_code in (200, 201)
        stop = threading.Event()
        threads = writers(stack, stop)
        time.sleep(1.0)  # writes under way
        proc = flowmon(cli_env(stack), "backup", str(backup_dir))
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(30)
        assert proc.returncode == 0, proc.stdout + proc.stderr

        # Restoring beneath the running services is refused, and nothing is touched.
        before = (stack.data_dir / "errors.db").stat().st_mtime_ns
        refused = flowmon(cli_env(stack), "restore", str(backup_dir))
        assert refused.returncode == 1
        assert "answers on port" in refused.stderr and "--force" in refused.stderr
        assert (stack.data_dir / "errors.db").stat().st_mtime_ns == before
    finally:
        stack.stop()

    for name in SERVICES:
        copy = backup_dir / f"{name}.db"
        conn = sqlite3.connect(copy)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", name
        conn.close()
        assert os.stat(copy).st_mode & 0o077 == 0, f"{copy} must be private (SPEC §10.5)"
    counts = {name: table_counts(backup_dir / f"{name}.db") for name in SERVICES}
    assert sum(counts["metrics"].values()) > 0 and sum(counts["logs"].values()) > 0

    # Restore into an empty data folder and start the stack on it.
    fresh = tmp_path / "restored"
    env = {**cli_env(stack, fresh / "data")}
    done = flowmon(env, "restore", str(backup_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    for name in SERVICES:
        assert table_counts(fresh / "data" / f"{name}.db") == counts[name], name
    again = start_stack(repo_bin(), fresh)
    try:
        r = httpx.get(
            again.url("errors") + "/api/errors",
            params={"limit": 100},
            headers={"X-API-Key": KEYS["ERROR_TRACKER_API_KEY"]},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert "invalid booking" in r.text
    finally:
        again.stop()


def test_restore_refuses_a_damaged_backup_and_touches_nothing(tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "errors.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200 + b"garbage")
    target = tmp_path / "data"
    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(target), **KEYS}
    env["ERRORS_PORT"] = env["LOGS_PORT"] = env["METRICS_PORT"] = "1"  # nothing listens there
    proc = subprocess.run(
        [str(repo_bin() / "flowmon"), "restore", str(backup), "errors"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "damaged" in proc.stderr or "not a database" in proc.stderr, proc.stderr
    assert not (target / "errors.db").exists()


def test_restore_without_backups_says_so(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [str(repo_bin() / "flowmon"), "restore", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1 and "no backups" in proc.stdout


def test_documented_backup_inside_a_per_service_container(tmp_path: Path) -> None:
    """docs/operations.md: `flowmon backup DIR errors` in the error-tracker container,
    whose environment has SPEC §8.2's DATABASE_URL and WORKDIR /app."""
    app = tmp_path / "app"  # stands for /app
    app.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "DATA_DIR": str(app / "data"),
        "DATABASE_URL": "sqlite:///./data/errors.db",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), env=env, cwd=app, capture_output=True, text=True, timeout=60
        )

    flowmon_bin = str(repo_bin() / "flowmon")
    made = run(flowmon_bin, "migrate", "errors")
    assert made.returncode == 0, made.stderr
    plain = run(flowmon_bin, "backup", str(app / "data/backups/x"))
    assert plain.returncode == 2 and "DATABASE_URL" in plain.stderr
    documented = run(flowmon_bin, "backup", str(app / "data/backups/x"), "errors")
    assert documented.returncode == 0, documented.stderr
    assert (app / "data/backups/x/errors.db").is_file()
    assert not (app / "data/backups/x/logs.db").exists()
    unknown = run(flowmon_bin, "backup", str(app / "data/backups/y"), "nope")
    assert unknown.returncode == 2 and "unknown service" in unknown.stderr
