"""Docker's json-file log format: parse a record, join partial records, rebuild raw. Pure.

Each line of ``<id>-json.log`` is ``{"log":"<text>\\n","stream":"stdout","time":"<RFC3339Nano>"}``
(SPEC LV-003). Docker splits a message longer than 16 KiB into several records; every
record but the last lacks the trailing ``\\n`` of its ``log``, and they must be joined.

Why ``rebuild_raw``: storing the raw JSON of every line next to its text costs ~70 bytes a
line (a third of the budget). Docker writes it with Go's ``encoding/json`` in a fixed field
order, so for almost every line the raw JSON can be rebuilt exactly from (line, stream,
time); the tailer stores ``raw`` only when the rebuilt text would differ (joined partial
records, unusual escapes), so what we show as raw is always what Docker wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from core.errors import BadRequest
from core.timeparse import parse_time_ns

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


@dataclass(frozen=True, slots=True)
class DockerRecord:
    log: str
    stream: str
    time: str
    ts_ns: int

    @property
    def partial(self) -> bool:
        return not self.log.endswith("\n")


def clean_text(text: str) -> str:
    """Replace lone surrogates (``"\\ud800"`` in JSON) that SQLite cannot store as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


_second_cache: dict[str, int] = {}


def parse_docker_time(text: str) -> int:
    """RFC3339Nano → unix ns; the per-second part is cached (a tailer sees runs of them)."""
    if len(text) >= 20 and text[10] == "T" and text.endswith("Z"):
        head = text[:19]
        base = _second_cache.get(head)
        if base is None:
            try:
                dt = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
            except ValueError:
                raise BadRequest(f"invalid timestamp {text!r}") from None
            base = int(dt.timestamp()) * 1_000_000_000
            if len(_second_cache) > 4096:
                _second_cache.clear()
            _second_cache[head] = base
        frac = text[19:-1]
        if not frac:
            return base
        if frac[0] == "." and frac[1:].isdigit():
            return base + int((frac[1:] + "000000000")[:9])
    return parse_time_ns(text)


def parse_line(line: str) -> DockerRecord | None:
    """One json-file line → record, or None if it is not a Docker log record."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    log, stream, time = obj.get("log"), obj.get("stream", "stdout"), obj.get("time")
    if not isinstance(log, str) or not isinstance(time, str) or not isinstance(stream, str):
        return None
    try:
        ts = parse_docker_time(time)
    except BadRequest:
        return None
    if "\\ud" in line or "\\uD" in line:
        log = clean_text(log)
    return DockerRecord(log, stream, time, ts)


def format_time(ts_ns: int) -> str:
    """Go's RFC3339Nano in UTC: fraction with trailing zeros trimmed."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if not nanos:
        return base + "Z"
    return f"{base}.{nanos:09d}".rstrip("0") + "Z"


def go_json_string(text: str) -> str:
    """``text`` quoted as Go's encoding/json writes it (HTML-safe escapes included)."""
    out = json.dumps(text, ensure_ascii=False)
    if any(c in out for c in _GO_ESCAPES):
        for char, escape in _GO_ESCAPES.items():
            out = out.replace(char, escape)
    return out


def rebuild_raw(line: str, stream: str, ts_ns: int) -> str:
    """The json-file line Docker wrote for ``line`` (a whole message, newline stripped)."""
    return (
        f'{{"log":{go_json_string(line + chr(10))},"stream":{go_json_string(stream)},'
        f'"time":"{format_time(ts_ns)}"}}'
    )
