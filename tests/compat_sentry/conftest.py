"""Fixtures of the error tracker tests: an app on a temp DATA_DIR with the fixture project."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from compat_sentry import store
from compat_sentry.service import create_app
from compat_sentry.settings import ErrorsSettings
from core.context import ServiceContext
from tests.conftest import SHARED, TEST_KEY, in_process

FIXTURES = SHARED / "fixtures" / "sentry-python"
FIXTURE_KEY = "0f3e4c9a1b2d4e5f8a7b6c5d4e3f2a1b"
FIXTURE_PROJECT = 4242
AUTH = {"X-API-Key": TEST_KEY}


def add_project(app: Any, name: str, key: str, project_id: int) -> None:
    ctx = ServiceContext.of_app(app)

    def job(conn: Any) -> None:
        if not conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone():
            store.create_project(conn, name, public_key=key, project_id=project_id)

    ctx.writer.run_sync(job)
    ctx.extra["ingest"].projects.forget()


def load_fixture(name: str) -> tuple[dict[str, Any], bytes]:
    meta = json.loads((FIXTURES / f"{name}.headers.json").read_text())
    return meta, (FIXTURES / f"{name}.body").read_bytes()


def decoded(name: str) -> bytes:
    """A fixture body with its Content-Encoding undone."""
    import gzip

    import brotli

    meta, body = load_fixture(name)
    encoding = dict((k.lower(), v) for k, v in meta["headers"]).get("content-encoding", "")
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        return bytes(brotli.decompress(body))
    return body


def fixture_names() -> list[str]:
    return sorted(p.name.removesuffix(".headers.json") for p in FIXTURES.glob("*.headers.json"))


def replay(client: TestClient, name: str, **overrides: str) -> Any:
    """Send a fixture request as recorded (headers in order, body byte for byte)."""
    meta, body = load_fixture(name)
    skip = {"host", "content-length"}
    headers = {k: v for k, v in meta["headers"] if k.lower() not in skip}
    headers.update(overrides)
    url = meta["path"] + (f"?{meta['query']}" if meta["query"] else "")
    return client.request(meta["method"], url, content=body, headers=headers)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database per test session: copying it skips Alembic (~0.8 s a test)."""
    from compat_sentry.service import HEAD, MIGRATIONS
    from core.migrations import upgrade

    path = tmp_path_factory.mktemp("template") / "errors.db"
    upgrade(path, MIGRATIONS, HEAD)
    return path


@pytest.fixture
def settings(make_settings: Callable[..., Any], migrated_template: Path) -> ErrorsSettings:
    made: ErrorsSettings = make_settings(ErrorsSettings)
    _seed(made, migrated_template)
    return made


def _seed(settings: ErrorsSettings, template: Path) -> None:
    import shutil

    target = settings.database_path
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(template, target)
        target.chmod(0o600)


@pytest.fixture
def make_client(
    make_settings: Callable[..., Any], migrated_template: Path
) -> Iterator[Callable[..., TestClient]]:
    """``make_client(**setting overrides)`` → an in-process client with the fixture project."""
    stack: list[Any] = []

    def make(**overrides: Any) -> TestClient:
        settings = make_settings(ErrorsSettings, **overrides)
        _seed(settings, migrated_template)
        cm = in_process(create_app(settings))
        client = cm.__enter__()
        stack.append(cm)
        add_project(client.app, "fixtures", FIXTURE_KEY, FIXTURE_PROJECT)
        return client

    yield make
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def groups(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/errors", params={"limit": 200, **params}, headers=AUTH)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["errors"]
    return found
