"""Fixtures of the log store tests: a running app (writer, migrations) on a temp DATA_DIR."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from compat_loki.service import create_app
from compat_loki.settings import LogsSettings
from core.context import ServiceContext
from tests.conftest import in_process


@pytest.fixture
def docker_dir(tmp_path: Path) -> Path:
    path = tmp_path / "containers"
    path.mkdir()
    return path


@pytest.fixture
def loki_app(
    make_settings: Callable[..., LogsSettings], docker_dir: Path
) -> Iterator[tuple[TestClient, ServiceContext]]:
    settings = make_settings(LogsSettings, {"LOG_SOURCES": str(docker_dir), "POLL_INTERVAL": "0.2"})
    app = create_app(settings)
    with in_process(app) as client:
        yield client, ServiceContext.of_app(app)


@pytest.fixture
def ctx(loki_app: tuple[TestClient, ServiceContext]) -> ServiceContext:
    return loki_app[1]


@pytest.fixture
def client(loki_app: tuple[TestClient, ServiceContext]) -> TestClient:
    return loki_app[0]


def write(ctx: ServiceContext, fn: Callable[[Any], Any]) -> Any:
    return ctx.writer.run_sync(fn, timeout=30)


@pytest.fixture(scope="module")
def module_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for a module's tests that only need an answer, not a clean database
    (app start-up runs the migrations, ~1 s)."""
    from core.settings import load_settings
    from tests.conftest import TEST_KEY

    base = tmp_path_factory.mktemp("loki")
    (base / "containers").mkdir()
    env = {
        "DATA_DIR": str(base / "data"),
        "API_KEY": TEST_KEY,
        "LOG_SOURCES": str(base / "containers"),
    }
    with in_process(create_app(load_settings(LogsSettings, env))) as client:
        yield client
