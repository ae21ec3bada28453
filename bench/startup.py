"""Start-up time and idle RSS of `flowmon all` (issue 2's figures).

Starts `flowmon all` as a subprocess on free ports with a fresh DATA_DIR, twice: the first
start runs the migrations, the second finds the databases current (the usual case). Prints
the time until all three /health answer and the RSS after a short idle period.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def one_start(data: Path) -> tuple[float, float]:
    ports = [free_port() for _ in range(3)]
    env = {**os.environ, "DATA_DIR": str(data), "LOGS_LOG_SOURCES": str(data / "docker")}
    args = [sys.executable, "-m", "core.cli", "all"]
    args += [f"--{n}-port={p}" for n, p in zip(("errors", "logs", "metrics"), ports, strict=True)]
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pending = list(ports)
        while pending:
            if time.perf_counter() - started > 60:
                raise SystemExit("flowmon did not become healthy within 60 s")
            if healthy(pending[0]):
                pending.pop(0)
            else:
                time.sleep(0.02)
        ready = time.perf_counter() - started
        time.sleep(3)
        rss = rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    return ready, rss


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        first = one_start(data)
        second = one_start(data)
    print("flowmon all start-up (3 services, one process)")
    print(
        f"  first start (migrations): {first[0]:.2f} s to all /health, idle RSS {first[1]:.1f} MB"
    )
    print(
        f"  second start (current):   {second[0]:.2f} s to all /health, idle RSS {second[1]:.1f} MB"
    )


if __name__ == "__main__":
    main()
