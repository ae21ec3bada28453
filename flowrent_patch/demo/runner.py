"""``flowmon demo``: run the demo app as FlowRent runs in Docker, and drive traffic at it.

What it does, in order:

1. finds the stack's API key (``--api-key``, ``API_KEY``, or ``DATA_DIR/api_key`` as
   ``make run`` writes it) and the Sentry DSN of project ``flowrent`` (``--dsn``,
   ``SENTRY_DSN``, the tracker's ``/api/projects`` if it lists DSNs, or ``flowmon project
   list`` on the same DATA_DIR), pointing the DSN at ``--errors-url``. Without a DSN the
   demo reports through the native client (SPEC §7.2.1) instead of the SDK;
2. starts the app in a child process (``python -m flowrent_patch.demo serve``: uvicorn,
   JSON logs on stdout) and plays dockerd's log driver for it: its stdout and stderr
   become ``DATA_DIR/docker/<id>/<id>-json.log`` under container name ``flowrent_demo``,
   the tree the log store tails (``LOGS_LOG_SOURCES``; ``make run`` + this command need
   no setting when both use ./data);
3. sends ``--rate`` requests a second until ``--duration`` ends or Ctrl-C, printing a
   status line every ten seconds; then stops the app (SIGTERM: the metrics client flushes
   on shutdown) and closes the log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from flowrent_patch.demo.dockerlog import DockerLog
from flowrent_patch.demo.traffic import Traffic

PROJECT = "flowrent"
CONTAINER = "flowrent_demo"
LOG_CHECK_AFTER = 15.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flowmon demo", description="Run a FlowRent-like app with traffic into the stack."
    )
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", "./data")))
    p.add_argument("--errors-url", default="http://127.0.0.1:5010")
    p.add_argument("--logs-url", default="http://127.0.0.1:5011")
    p.add_argument("--metrics-url", default="http://127.0.0.1:5012")
    p.add_argument("--api-key", help="default: API_KEY, else DATA_DIR/api_key")
    p.add_argument("--dsn", help="Sentry DSN; default: SENTRY_DSN, else asked of the stack")
    p.add_argument("--error-reporting", choices=["auto", "sdk", "native"], default="auto")
    p.add_argument("--docker-root", type=Path, help="default: DATA_DIR/docker")
    p.add_argument("--container-name", default=CONTAINER)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5002, help="the demo app's port (FlowRent's)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--rate", type=float, default=10.0, help="requests per second")
    p.add_argument("--duration", type=float, default=0, help="seconds; 0 = until Ctrl-C")
    p.add_argument("--no-traffic", action="store_true", help="only run the app")
    p.add_argument("--flush-interval", type=float, default=10.0)
    p.add_argument("--buffer-size", type=int, default=10_000)
    p.add_argument("--job-interval", type=float, default=15.0)
    p.add_argument("--email-failure-rate", type=float, default=0.2)
    p.add_argument("--echo", action="store_true", help="also print the app's log lines")
    return p


def api_key(args: argparse.Namespace) -> str | None:
    if args.api_key:
        return str(args.api_key)
    if os.environ.get("API_KEY"):
        return os.environ["API_KEY"]
    path = args.data_dir / "api_key"
    with contextlib.suppress(OSError):
        return path.read_text().strip() or None
    return None


def with_netloc_of(dsn: str, base_url: str) -> str:
    """The DSN with host:port of ``base_url`` (where the tracker is reachable from here)."""
    d, b = urlsplit(dsn), urlsplit(base_url)
    netloc = f"{d.username}@{b.netloc}" if d.username else b.netloc
    return urlunsplit((b.scheme or d.scheme, netloc, d.path, d.query, d.fragment))


def discover_dsn(args: argparse.Namespace, key: str | None) -> str | None:
    if args.dsn:
        return str(args.dsn)
    if os.environ.get("SENTRY_DSN"):
        return os.environ["SENTRY_DSN"]
    headers = {"X-API-Key": key} if key else {}
    with contextlib.suppress(httpx.HTTPError, ValueError, AttributeError):
        found = httpx.get(args.errors_url.rstrip("/") + "/api/projects", headers=headers)
        for project in found.json().get("projects", []):
            if isinstance(project, dict) and project.get("name") == PROJECT and project.get("dsn"):
                return with_netloc_of(str(project["dsn"]), args.errors_url)
    if not (args.data_dir / "errors.db").exists():
        return None
    env = {**os.environ, "DATA_DIR": str(args.data_dir)}
    command = [sys.executable, "-m", "core.cli", "project", "list"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
        for line in out.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[0] == PROJECT:
                return with_netloc_of(parts[2], args.errors_url)
    return None


def child_env(args: argparse.Namespace, key: str | None, dsn: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SENTRY_DSN"}
    env.update(
        METRICS_COLLECTOR_URL=args.metrics_url,
        METRICS_FLUSH_INTERVAL=str(args.flush_interval),
        METRICS_BUFFER_SIZE=str(args.buffer_size),
        SENTRY_ENVIRONMENT="demo",
        DEMO_DB_PATH=str(args.data_dir / "demo" / "flowrent_demo.db"),
        DEMO_JOB_INTERVAL=str(args.job_interval),
        DEMO_EMAIL_FAILURE_RATE=str(args.email_failure_rate),
        PYTHONUNBUFFERED="1",
    )
    if key:
        env.update(ERROR_TRACKER_API_KEY=key, METRICS_COLLECTOR_API_KEY=key)
    mode = args.error_reporting
    if mode == "auto":
        mode = "sdk" if dsn else "native"
    if mode == "sdk" and dsn:
        env["SENTRY_DSN"] = dsn
    else:
        env["ERROR_TRACKER_URL"] = args.errors_url
    return env


def wait_healthy(url: str, child: subprocess.Popen[bytes], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return True
        time.sleep(0.1)
    return False


async def check_log_store(logs_url: str, container: str, docker_root: Path) -> None:
    """Say so when the log store does not tail our Docker tree (a common first-run miss)."""
    await asyncio.sleep(LOG_CHECK_AFTER)
    with contextlib.suppress(httpx.HTTPError, ValueError, AttributeError, TypeError):
        async with httpx.AsyncClient(timeout=5) as client:
            found = (await client.get(logs_url.rstrip("/") + "/api/containers")).json()
        names = {c.get("name") for c in found.get("containers", [])}
        if container not in names:
            print(
                f"flowmon demo: the log store at {logs_url} has no {container} lines yet;"
                f" it must tail {docker_root} (LOGS_LOG_SOURCES)",
                flush=True,
            )


async def drive(traffic: Traffic, duration: float | None, args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(traffic.run(duration))
    docker_root = (args.docker_root or args.data_dir / "docker").absolute()
    check = asyncio.create_task(check_log_store(args.logs_url, args.container_name, docker_root))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        while not task.done():
            await asyncio.wait([task], timeout=10)
            print(f"demo traffic: {traffic.summary()}", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    check.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def idle() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    key = api_key(args)
    dsn = discover_dsn(args, key) if args.error_reporting != "native" else None
    env = child_env(args, key, dsn)
    docker = DockerLog(args.docker_root or args.data_dir / "docker", args.container_name)
    command = [sys.executable, "-m", "flowrent_patch.demo", "serve"]
    command += ["--host", args.host, "--port", str(args.port), "--workers", str(args.workers)]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    echo = sys.stdout if args.echo else None
    pumps = [docker.pump(child.stdout, "stdout", echo), docker.pump(child.stderr, "stderr", echo)]
    docker.write_config(running=True, pid=child.pid)
    url = f"http://{args.host}:{args.port}"
    try:
        if not wait_healthy(url, child):
            print("flowmon demo: the demo app did not start; see " + str(docker.path))
            return 1
        how = "Sentry SDK" if "SENTRY_DSN" in env else "native client"
        print(
            json.dumps(
                {
                    "demo": url,
                    "container": args.container_name,
                    "container_id": docker.id,
                    "docker_log": str(docker.path),
                    "errors": f"{args.errors_url} ({how})",
                    "logs": args.logs_url,
                    "metrics": args.metrics_url,
                }
            ),
            flush=True,
        )
        if args.no_traffic:
            asyncio.run(idle())
        else:
            traffic = Traffic(url, rate=args.rate)
            asyncio.run(drive(traffic, args.duration or None, args))
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for pump in pumps:
            pump.join(5)
        docker.close()
    return 0
