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
import json.scanner
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from core.errors import BadRequest
from core.timeparse import parse_time_ns

_encode_basestring = json.encoder.encode_basestring
_STREAMS = {"stdout": '"stdout"', "stderr": '"stderr"'}
_SURROGATE = re.compile("[\ud800-\udfff]")
_GO_SPECIAL = re.compile("[<>&\u2028\u2029]")
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
        return _SURROGATE.sub("\ufffd", text)
    return text


MAX_TS_NS = 253_402_300_800 * 1_000_000_000  # 10000-01-01: past what datetime can show
_day_cache: dict[str, int] = {}


def _day_ns(day: str) -> int:
    """``2025-01-23`` → unix ns of its midnight UTC (cached: strptime costs ~10 µs)."""
    base = _day_cache.get(day)
    if base is None:
        dt = datetime(int(day[0:4]), int(day[5:7]), int(day[8:10]), tzinfo=UTC)
        base = int(dt.timestamp()) * 1_000_000_000
        if len(_day_cache) > 4096:
            _day_cache.clear()
        _day_cache[day] = base
    return base


_DOCKER_TIME = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z")


_second_cache: dict[str, int] = {}


def parse_docker_time(text: str) -> int:
    """RFC3339Nano in UTC (what Docker writes) → unix ns: one regex and a per-day cache
    (strptime costs ~10 µs a line); any other RFC 3339 form takes the general parser.

    The second (``text[:19]``) of a time parsed so is remembered, so the next lines of the
    same second, the common case when a container is busy, only read their fraction."""
    second = _second_cache.get(text[:19])
    if second is not None and text[-1:] == "Z":
        frac = text[20:-1]
        if len(text) == 20:
            return second
        if text[19] == "." and len(frac) <= 9 and frac.isascii() and frac.isdigit():
            return second + int((frac + "00000000")[:9])
    m = _DOCKER_TIME.fullmatch(text)
    if m is None:
        return parse_time_ns(text)
    day, hh, mm, ss, frac = m.groups()
    if int(hh) > 23 or int(mm) > 59 or int(ss) > 60:
        raise BadRequest(f"invalid timestamp {text!r}")
    try:
        base = _day_ns(day)
    except ValueError:
        raise BadRequest(f"invalid timestamp {text!r}") from None
    second = base + (int(hh) * 3600 + int(mm) * 60 + int(ss)) * 1_000_000_000
    if len(_second_cache) > 4096:
        _second_cache.clear()
    _second_cache[text[:19]] = second
    nanos = int((frac + "00000000")[:9]) if frac else 0
    return second + nanos


# the C scanner json.loads ends in (typeshed types its argument as the scanner itself)
_scan_json = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _load_object(line: str) -> object:
    """``json.loads(line)``, straight through the C scanner for a line that starts with
    ``{`` (every Docker record): json.loads adds two Python calls a line."""
    if line[:1] == "{":
        try:
            obj, end = _scan_json(line, 0)
        except StopIteration:
            raise ValueError("no JSON value") from None
        if end == len(line):
            return obj
    return json.loads(line)


def parse_line(line: str) -> DockerRecord | None:
    """One json-file line → record, or None if it is not a Docker log record."""
    try:
        obj = _load_object(line)
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
    if not 0 <= ts < MAX_TS_NS:
        return None  # no Docker wrote it, and no date function could show it
    if "\\ud" in line or "\\uD" in line:
        log = clean_text(log)
    return DockerRecord(log, stream, time, ts)


_day_text: dict[int, str] = {}


def format_time(ts_ns: int) -> str:
    """Go's RFC3339Nano in UTC: fraction with trailing zeros trimmed."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    days, rest = divmod(seconds, 86_400)
    day = _day_text.get(days)
    if day is None:
        day = datetime.fromtimestamp(days * 86_400, UTC).strftime("%Y-%m-%d")
        if len(_day_text) > 4096:
            _day_text.clear()
        _day_text[days] = day
    hh, rest = divmod(rest, 3600)
    mm, ss = divmod(rest, 60)
    base = f"{day}T{hh:02d}:{mm:02d}:{ss:02d}"
    if not nanos:
        return base + "Z"
    return f"{base}.{nanos:09d}".rstrip("0") + "Z"


def go_json_string(text: str) -> str:
    """``text`` quoted as Go's encoding/json writes it (HTML-safe escapes included)."""
    out: str = _encode_basestring(text)  # the C encoder behind json.dumps, without its setup
    if _GO_SPECIAL.search(out):
        for char, escape in _GO_ESCAPES.items():
            out = out.replace(char, escape)
    return out


# Times exactly as Go's RFC3339Nano writes them (fraction without trailing zeros, no leap
# second): for these ``format_time(parse_docker_time(t)) == t``.
_GO_TIME = re.compile(
    r"[1-9]\d{3}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{0,8}[1-9])?Z",
    re.ASCII,  # format_time writes ASCII digits
)


def rebuilds_to(raw: str, line: str, record: DockerRecord) -> bool:
    """Whether ``rebuild_raw(line, record.stream, record.ts_ns) == raw``, taking Docker's own
    time text when it is already in Go's form (formatting the time costs ~3 µs a line)."""
    if _GO_TIME.fullmatch(record.time) is None:
        return rebuild_raw(line, record.stream, record.ts_ns) == raw
    return raw == _json_file_line(line, record.stream, record.time)


def rebuild_raw(line: str, stream: str, ts_ns: int) -> str:
    """The json-file line Docker wrote for ``line`` (a whole message, newline stripped)."""
    return _json_file_line(line, stream, format_time(ts_ns))


def _json_file_line(line: str, stream: str, time_text: str) -> str:
    quoted = _STREAMS.get(stream) or go_json_string(stream)
    log = go_json_string(line + "\n")
    return f'{{"log":{log},"stream":{quoted},"time":"{time_text}"}}'
