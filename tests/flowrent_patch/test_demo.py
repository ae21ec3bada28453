"""The demo app (native-client mode against capturing servers) and its Docker log writer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowrent_patch.demo import runner
from flowrent_patch.demo.app import create_app
from flowrent_patch.demo.config import DemoSettings
from flowrent_patch.demo.dockerlog import DOCKER_CHUNK, DockerLog
from tests.conftest import TEST_KEY, LiveServer
from tests.flowrent_patch.capture import CaptureServer

RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def test_docker_log_tree_is_what_dockerd_writes(tmp_path: Path) -> None:
    log = DockerLog(tmp_path, "flowrent_demo")
    assert re.fullmatch(r"[0-9a-f]{64}", log.id)
    log.write("stdout", '{"level": "INFO", "msg": "hi"}')
    log.write("stderr", "x" * (DOCKER_CHUNK + 10))
    proc = subprocess.Popen(
        [sys.executable, "-c", "print('one'); print('two')"], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    log.pump(proc.stdout, "stdout").join(5)
    proc.wait()
    proc.stdout.close()
    log.close()
    folder = tmp_path / log.id
    config = json.loads((folder / "config.v2.json").read_text())
    assert config["Name"] == "/flowrent_demo" and config["ID"] == log.id
    records = [json.loads(x) for x in (folder / f"{log.id}-json.log").read_text().splitlines()]
    assert list(records[0]) == ["log", "stream", "time"]
    assert records[0]["log"] == '{"level": "INFO", "msg": "hi"}\n'
    assert all(RFC3339NANO.match(r["time"]) for r in records)
    long = records[1:3]
    assert [r["stream"] for r in long] == ["stderr", "stderr"]
    assert len(long[0]["log"]) == DOCKER_CHUNK and not long[0]["log"].endswith("\n")
    assert long[1]["log"] == "x" * 10 + "\n"
    assert "".join(r["log"] for r in long) == "x" * (DOCKER_CHUNK + 10) + "\n"
    assert [r["log"] for r in records[3:]] == ["one\n", "two\n"]


def test_runner_finds_key_and_points_dsn_at_the_tracker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    (tmp_path / "api_key").write_text(TEST_KEY + "\n")
    args = runner.build_parser().parse_args(
        [f"--data-dir={tmp_path}", "--errors-url=http://127.0.0.1:1"]
    )
    assert runner.api_key(args) == TEST_KEY
    dsn = runner.with_netloc_of("http://abc@127.0.0.1:5010/1", "http://10.0.0.5:15010")
    assert dsn == "http://abc@10.0.0.5:15010/1"
    assert runner.discover_dsn(args, TEST_KEY) is None, "no tracker there, no errors.db here"
    env = runner.child_env(args, TEST_KEY, None)
    assert env["ERROR_TRACKER_URL"] == "http://127.0.0.1:1" and "SENTRY_DSN" not in env
    env = runner.child_env(args, TEST_KEY, "http://k@h:1/1")
    assert env["SENTRY_DSN"] == "http://k@h:1/1" and "ERROR_TRACKER_URL" not in env
    assert env["METRICS_COLLECTOR_API_KEY"] == TEST_KEY


def booking(**overrides: Any) -> dict[str, Any]:
    return {
        "item_type": "bike",
        "customer_email": "carmen.diaz@example.com",
        "customer_phone": "+34 622 333 444",
        "start_date": "2030-05-01",
        "days": 3,
        **overrides,
    }


def test_demo_app_reports_errors_and_metrics(tmp_path: Path) -> None:
    with (
        CaptureServer(status=201, reply={"status": "created"}) as tracker,
        CaptureServer() as collector,
    ):
        settings = DemoSettings(
            error_tracker_url=tracker.url,
            error_tracker_api_key=TEST_KEY,
            metrics_collector_url=collector.url,
            metrics_collector_api_key=TEST_KEY,
            metrics_flush_interval=60,
            demo_db_path=tmp_path / "demo.db",
            demo_email_failure_rate=0.0,
            demo_job_interval=3600,
            log_level="WARNING",
        )
        with LiveServer(create_app(settings)) as srv:
            created = httpx.post(srv.url + "/bookings", json=booking())
            assert created.status_code == 201
            booking_id = created.json()["booking_id"]
            confirm = httpx.post(f"{srv.url}/bookings/{booking_id}/confirm")
            assert confirm.json() == {
                "booking_id": booking_id,
                "status": "confirmed",
                "email_sent": True,
            }
            assert httpx.post(f"{srv.url}/bookings/{booking_id}/confirm").status_code == 409
            paid = httpx.post(f"{srv.url}/bookings/{booking_id}/payment", json={"method": "card"})
            assert paid.status_code == 200
            assert httpx.post(srv.url + "/bookings", json=booking(days=45)).status_code == 500
            assert (
                httpx.post(srv.url + "/bookings", json=booking(item_type="tandem")).status_code
                == 500
            )
            assert (
                httpx.get(srv.url + "/availability?item_type=bike&date=2030-05-01").json()[
                    "available"
                ]
                == 39
            )
            assert httpx.get(srv.url + "/bookings/999999").status_code == 404
            tracker.wait_for(2)
        # lifespan shutdown flushed the metrics
    reports = {r.json()["exception_type"]: r.json() for r in tracker.requests}
    assert set(reports) == {"ValueError", "KeyError"}
    assert reports["ValueError"]["message"] == "rental of 45 days for [email] is outside 1..30"
    assert reports["KeyError"]["extra"]["route"] == "/bookings"
    points = [p for r in collector.requests for p in r.json()["metrics"]]
    names = {p["name"] for p in points}
    assert {
        "booking_created_total",
        "booking_confirmed_total",
        "payment_received_total",
        "email_sent_total",
        "http_requests_total",
        "http_request_duration_seconds",
    } <= names
    endpoints = {p["labels"].get("endpoint") for p in points if p["name"] == "http_requests_total"}
    assert "/bookings/{booking_id}/confirm" in endpoints
    assert not any(e and re.search(r"/\d", e) for e in endpoints)
