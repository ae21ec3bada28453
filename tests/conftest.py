"""Shared fixtures: settings on a temporary DATA_DIR, in-process and live servers.

Every test gets its own SQLite files (no shared database, no env mutation).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from starlette.testclient import TestClient

from core.settings import CommonSettings, load_settings

TEST_KEY = "test-key-0123456789abcdef0123456789abcdef"
S = TypeVar("S", bound=CommonSettings)

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared is missing at {SHARED}")
    return SHARED


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Any]:
    def make(cls: type[S], environ: dict[str, str] | None = None, **overrides: Any) -> S:
        env = {"DATA_DIR": str(tmp_path / "data"), "API_KEY": TEST_KEY, **(environ or {})}
        return load_settings(cls, env, **overrides)

    return make


@contextlib.contextmanager
def in_process(app: Any) -> Iterator[TestClient]:
    """Starlette's TestClient runs the lifespan (writer, jobs) around the block."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


class LiveServer:
    """A real uvicorn on 127.0.0.1 with an ephemeral port, in a background thread."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.01)
        sock = self.server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def live_server() -> Callable[[Any], LiveServer]:
    return LiveServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(names: Iterable[str]) -> dict[str, int]:
    """A free port per name, all different: every socket stays bound until all are picked
    (one ``free_port`` after another can hand out the same port twice, and a stack of
    three services then fails to bind one of them)."""
    with contextlib.ExitStack() as held:
        ports = {}
        for name in names:
            s = held.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports[name] = int(s.getsockname()[1])
        return ports
