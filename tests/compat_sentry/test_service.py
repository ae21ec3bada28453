"""Service wiring: migrations head, `flowmon project create|list`, DSNs that work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from compat_sentry import service
from compat_sentry.settings import ErrorsSettings
from core.migrations import script_head


def test_head_matches_the_scripts() -> None:
    assert script_head(service.MIGRATIONS) == service.HEAD


def test_project_create_and_list_print_dsns(
    make_settings: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    settings: ErrorsSettings = make_settings(ErrorsSettings, port=5010)
    assert service.cli(["project", "create", "billing"], settings) == 0
    name, project_id, dsn = capsys.readouterr().out.strip().split("\t")
    assert name == "billing" and int(project_id) >= 1
    assert dsn.startswith("http://") and dsn.endswith(f"@127.0.0.1:5010/{project_id}")
    assert service.cli(["project", "create", "billing"], settings) == 0  # idempotent
    assert capsys.readouterr().out.strip().split("\t")[2] == dsn
    assert service.cli(["project", "list"], settings) == 0
    assert f"billing\t{project_id}\t{dsn}" in capsys.readouterr().out
    assert service.cli(["project", "create", "x" * 101], settings) == 2
    public: ErrorsSettings = make_settings(ErrorsSettings, base_url="https://errors.example.com")
    service.cli(["project", "list"], public)
    assert f"@errors.example.com/{project_id}" in capsys.readouterr().out


def test_flowrent_exists_after_first_start_and_its_dsn_works(
    make_settings: Callable[..., Any],
) -> None:
    from tests.compat_sentry.test_protection import envelope, event
    from tests.conftest import in_process

    settings: ErrorsSettings = make_settings(ErrorsSettings)
    with in_process(service.create_app(settings)) as client:
        lines = service.banner(client.app)
        dsn = next(line for line in lines if line.startswith("DSN of flowrent: "))
        key = dsn.split("//", 1)[1].split("@", 1)[0]
        project_id = dsn.rsplit("/", 1)[1]
        response = client.post(
            f"/api/{project_id}/envelope/",
            content=envelope(event(1)),
            headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"},
        )
        assert response.status_code == 200, response.text
        from tests.compat_sentry.conftest import groups

        assert groups(client, project="flowrent")[0]["message"] == "boom 1"


def test_a_database_at_0001_upgrades_and_keeps_its_projects(
    make_settings: Callable[..., Any],
) -> None:
    import sqlite3

    from alembic import command
    from alembic.config import Config

    from tests.conftest import in_process

    settings: ErrorsSettings = make_settings(ErrorsSettings)
    path = settings.database_path
    path.parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", str(service.MIGRATIONS))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    command.upgrade(config, "0001")
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO projects (id, name, public_key, created_at) VALUES (7, 'old', ?, 'x')",
        ("ab" * 16,),
    )
    conn.commit()
    conn.close()
    with in_process(service.create_app(settings)) as client:
        assert (
            "old"
            in client.get("/api/projects", headers={"X-API-Key": settings.api_key_value}).json()[
                "projects"
            ]
        )
        assert client.get("/health").json()["groups"] == 0
