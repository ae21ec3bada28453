"""SPEC §7.4 JSON log lines, one object per line on stdout, for the log store to index.

``{"ts": ..., "level": "INFO", "logger": "app.routes.bookings", "msg": "Booking created",
"booking_id": 123, "trace_id": "..."}``: the fields of the SPEC, then whatever the call put
in ``extra=``, the exception text under ``exc``, and the current Sentry trace id, which is
the id the error tracker shows on the event of the same request, so a log search for it
finds the lines around an error. The log store reads ``level`` from these lines
(issue 4), so levels survive without any text pattern.

Messages, exception text and string extras are scrubbed of e-mails, phones and addresses
(SPEC §10.3 "don't log customer data; or redact") unless ``redact=False``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from flowrent_patch.scrub import scrub, scrub_text
from flowrent_patch.sentry import current_trace_id

_RECORD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName", "color_message"}
)
_OWN_FIELDS = frozenset({"ts", "level", "logger", "msg", "exc", "stack", "trace_id"})


class JSONFormatter(logging.Formatter):
    def __init__(self, *, redact: bool = True, trace_ids: bool = True) -> None:
        super().__init__()
        self.redact = redact
        self.trace_ids = trace_ids

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC)
        msg = record.getMessage()
        extra = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in _OWN_FIELDS
        }
        exc = None
        if record.exc_info:
            exc = self.formatException(record.exc_info)
        elif record.exc_text:
            exc = record.exc_text
        if self.redact:  # ts, level and logger are ours: only what the app wrote is scanned
            msg = scrub_text(msg)
            extra = scrub(extra) if extra else extra
            exc = scrub_text(exc) if exc else exc
        out: dict[str, Any] = {
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": msg,
            **extra,
        }
        if exc:
            out["exc"] = exc
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        if self.trace_ids:
            trace_id = current_trace_id()
            if trace_id:
                out["trace_id"] = trace_id
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_json_logging(level: str | int = "INFO", stream: IO[str] | None = None) -> None:
    """Root logger → one JSON line per record on ``stream`` (stdout, where Docker reads)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """``uvicorn.run(log_config=...)``: every logger, uvicorn's too, as JSON on stdout."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "flowrent_patch.jsonlog.JSONFormatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
        },
    }
