"""JSONFormatter (SPEC §7.4): fields, extras, exceptions, trace id, redaction."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from typing import Any

import sentry_sdk

from flowrent_patch.jsonlog import JSONFormatter, configure_json_logging, uvicorn_log_config
from flowrent_patch.sentry import init_sentry
from flowrent_patch.settings import MonitoringSettings


def emit(formatter: JSONFormatter, fn: Any) -> dict[str, Any]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("app.routes.bookings")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        fn(logger)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    parsed: dict[str, Any] = json.loads(lines[0])
    return parsed


def test_spec_fields_and_extras() -> None:
    line = emit(
        JSONFormatter(),
        lambda log: log.info("Booking created", extra={"booking_id": 123, "days": 3}),
    )
    assert list(line)[:4] == ["ts", "level", "logger", "msg"]
    assert line["level"] == "INFO"
    assert line["logger"] == "app.routes.bookings"
    assert line["msg"] == "Booking created"
    assert line["booking_id"] == 123 and line["days"] == 3
    assert line["ts"].endswith("Z") and line["ts"][10] == "T"
    assert "trace_id" not in line, "no SDK, no trace id"


def test_exception_text_and_redaction() -> None:
    def fail(log: logging.Logger) -> None:
        try:
            raise KeyError("tandem")
        except KeyError:
            log.exception(
                "pricing failed for %s", "ana@example.com", extra={"customer_phone": "600 1"}
            )

    line = emit(JSONFormatter(), fail)
    assert line["level"] == "ERROR"
    assert line["msg"] == "pricing failed for [email]"
    assert line["customer_phone"] == "[Filtered]"
    assert line["exc"].startswith("Traceback (most recent call last)")
    assert "KeyError: 'tandem'" in line["exc"]
    raw = emit(JSONFormatter(redact=False), lambda log: log.warning("to %s", "ana@example.com"))
    assert raw["msg"] == "to ana@example.com" and raw["level"] == "WARNING"


def test_trace_id_is_the_sentry_scope_trace_id() -> None:
    init_sentry(MonitoringSettings(sentry_dsn="http://k@127.0.0.1:9/1"))
    with sentry_sdk.isolation_scope():
        expected = sentry_sdk.get_traceparent()
        assert expected
        line = emit(JSONFormatter(), lambda log: log.info("inside a request"))
    assert line["trace_id"] == expected.split("-")[0]
    assert len(line["trace_id"]) == 32


def test_configure_json_logging_and_uvicorn_config() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_json_logging("INFO", stream)
        logging.getLogger("uvicorn.error").info("Started server process")
        logging.getLogger("x").debug("hidden")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert lines == [
        {
            "ts": lines[0]["ts"],
            "level": "INFO",
            "logger": "uvicorn.error",
            "msg": "Started server process",
        }
    ]
    config = uvicorn_log_config()
    try:
        logging.config.dictConfig(config)
        assert isinstance(root.handlers[0].formatter, JSONFormatter)
        assert logging.getLogger("uvicorn.access").propagate
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
