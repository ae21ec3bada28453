"""Helpers shared by the deploy tests: repository paths, YAML loading, and a real
``flowmon all`` subprocess on free loopback ports.

The subprocess is started the way a container starts it (deploy/scripts/entrypoint.sh with
the image's environment: HOST, DATA_DIR, the SPEC §8.3 key names), so the tests exercise the
same start-up path as the image, only without Docker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import free_ports

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCRIPTS = DEPLOY / "scripts"
SERVICES = ("errors", "logs", "metrics")
# A key of the length SPEC §10.4 asks for, as `openssl rand -base64 32` would print.
KEYS = {
    "ERROR_TRACKER_API_KEY": "deploy-test-errors-key-0123456789abcdefABCD",
    "METRICS_COLLECTOR_API_KEY": "deploy-test-metrics-key-0123456789abcdefAB",
    "LOGS_API_KEY": "deploy-test-logs-key-0123456789abcdefABCDEF",
}


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@dataclass
class Stack:
    """A running ``flowmon all``; ``url(name)`` is the base URL of one service."""

    proc: subprocess.Popen[bytes]
    ports: dict[str, int]
    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def start_stack(
    bin_dir: Path, tmp: Path, extra_env: dict[str, str] | None = None, timeout: float = 40
) -> Stack:
    """Start ``entrypoint.sh all`` with ``bin_dir`` first on PATH; wait for three /health."""
    ports = free_ports(SERVICES)
    data_dir = tmp / "data"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp),
        "LANG": "C.UTF-8",
        # As the Dockerfile sets them, except the address: tests stay on loopback.
        "HOST": "127.0.0.1",
        "DATA_DIR": str(data_dir),
        "LOG_SOURCES": str(tmp / "docker-containers"),
        **KEYS,
        **(extra_env or {}),
    }
    args = [str(SCRIPTS / "entrypoint.sh"), "all"]
    for name, port in ports.items():
        args += [f"--{name}-port", str(port)]
    tmp.mkdir(parents=True, exist_ok=True)
    log_path = tmp / "flowmon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    stack = Stack(proc, ports, data_dir, log_path, env)
    deadline = time.monotonic() + timeout
    pending = set(SERVICES)
    while pending:
        if proc.poll() is not None:
            raise AssertionError(f"flowmon all exited with {proc.returncode}:\n{stack.output()}")
        if time.monotonic() > deadline:
            stack.stop()
            raise AssertionError(f"no /health from {sorted(pending)}:\n{stack.output()}")
        for name in list(pending):
            try:
                if httpx.get(stack.url(name) + "/health", timeout=1).status_code == 200:
                    pending.discard(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    return stack


def repo_bin() -> Path:
    """The project's own virtualenv bin folder (``flowmon`` installed editable)."""
    return Path(sys.executable).parent
