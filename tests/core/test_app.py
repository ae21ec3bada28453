"""The app skeleton every service shares, exercised through the metrics service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from compat_loki import service as logs_service
from compat_prom import service as metrics_service
from compat_sentry import service as errors_service
from core.migrations import current_revision, script_head
from tests.conftest import in_process

SERVICES = [errors_service, logs_service, metrics_service]


@pytest.mark.parametrize("module", SERVICES, ids=lambda m: m.__name__)
def test_head_constant_matches_migration_scripts(module: Any) -> None:
    assert script_head(module.MIGRATIONS) == module.HEAD


@pytest.mark.parametrize("module", SERVICES, ids=lambda m: m.__name__)
def test_health_and_migrations(module: Any, make_settings: Callable[..., Any]) -> None:
    settings = make_settings(module.SETTINGS)
    app = module.create_app(settings)
    assert current_revision(settings.database_path) == module.HEAD
    with in_process(app) as client:
        r = client.get("/health")
        assert r.status_code == 200
        assert r.json()["status"] == "ok"
        assert r.headers["x-request-id"]
        assert (
            client.get("/health", headers={"X-Request-ID": "abc"}).headers["x-request-id"] == "abc"
        )


def test_unknown_route_and_method_render_as_json(make_settings: Callable[..., Any]) -> None:
    app = metrics_service.create_app(make_settings(metrics_service.SETTINGS))
    with in_process(app) as client:
        r = client.get("/no/such/page")
        assert r.status_code == 404
        assert r.json() == {"detail": "Not Found"}
        r = client.delete("/health")
        assert r.status_code == 405


def test_second_start_does_not_migrate_again(make_settings: Callable[..., Any]) -> None:
    settings = make_settings(errors_service.SETTINGS)
    errors_service.create_app(settings)
    from core import migrations

    assert not migrations.upgrade(
        settings.database_path, errors_service.MIGRATIONS, errors_service.HEAD
    )


def test_self_metrics_are_exposed(make_settings: Callable[..., Any]) -> None:
    app = errors_service.create_app(make_settings(errors_service.SETTINGS))
    with in_process(app) as client:
        client.get("/health")
        r = client.get("/metrics")
    assert r.status_code == 200
    text = r.text
    assert 'flowmon_http_requests_total{method="GET",service="errors",status="200"}' in text
    assert 'flowmon_writer_queue_depth{service="errors"}' in text
    assert 'flowmon_db_size_bytes{service="errors"}' in text


def test_successful_ingest_posts_are_logged_at_debug_only(
    make_settings: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Every request is logged, but a sender's accepted POSTs only at DEBUG (one a second
    from each Prometheus would flood the log); a refused one stays at INFO."""
    import logging

    from tests.conftest import TEST_KEY

    app = metrics_service.create_app(make_settings(metrics_service.SETTINGS))
    item = {"name": "up", "type": "gauge", "value": 1}
    with in_process(app) as client, caplog.at_level(logging.DEBUG, "flowmon.access"):
        client.get("/health")
        ok = client.post("/api/metrics", json={"metrics": [item]}, headers={"X-API-Key": TEST_KEY})
        bad = client.post("/api/metrics", content=b"{", headers={"X-API-Key": TEST_KEY})
    assert (ok.status_code, bad.status_code) == (202, 400)
    levels = {
        (r.args[2], r.args[3], r.args[5]): r.levelno  # type: ignore[index]
        for r in caplog.records
        if r.name.startswith("flowmon.access")
    }
    assert levels[("GET", "/health", 200)] == logging.INFO
    assert levels[("POST", "/api/metrics", 202)] == logging.DEBUG
    assert levels[("POST", "/api/metrics", 400)] == logging.INFO
