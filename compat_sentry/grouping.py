"""SPEC §4.5 fingerprints: which occurrences are "the same bug".

Rules, in the order they apply:

1. Default key (SPEC §4.5): ``{project}:{exception_type}:{file}:{line}`` where file:line is
   the *last application frame* of the error, and the fingerprint is ``md5(key)`` as 32 hex
   characters. The SPEC's worked example::

       >>> tb = '''Traceback (most recent call last):
       ...   File "/app/app/routes/bookings.py", line 142, in create_booking
       ...     validate_input(data)
       ...   File "/app/app/utils/validation.py", line 56, in validate_input
       ...     raise ValueError("invalid input")
       ... ValueError: invalid input'''
       >>> traceback_location(tb)
       Location(file='/app/app/utils/validation.py', line=56)
       >>> default_key("flowrent", "ValueError", traceback_location(tb))
       'flowrent:ValueError:/app/app/utils/validation.py:56'

2. Native reports locate the frame by parsing the traceback text: the last ``File "…",
   line N`` whose path is not library code (site-packages, dist-packages, the stdlib,
   ``<frozen …>``); if every frame is library code, the last frame. A chained traceback
   prints the outermost exception last, so its frames come last in the text.
3. SDK events locate it in the structured stack of the *last* exception in
   ``exception.values`` (the outermost one; the SDK lists causes first): the last frame with
   ``in_app: true``, else rule 2's path test on ``abs_path``, else the last frame. The file
   is ``abs_path`` (the same absolute path a Python traceback prints), so a bug reported
   both ways gets one fingerprint.
4. No frame at all: file and line are empty (``flowrent:ValueError::``).
5. Events without an exception group by their message *template* (``logentry.message``
   before parameters are filled in): ``{project}:message:{template}``.
6. A client ``fingerprint`` list replaces the key: ``{project}:{part}:{part}…`` where a
   part equal to ``{{ default }}`` stands for the default key of rules 1-5 (without its
   project prefix repeated). ``["{{ default }}"]`` alone equals the default fingerprint.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

DEFAULT_PART = "{{ default }}"

_FRAME_LINE = re.compile(r'^\s*File "(?P<file>[^"\n]*)", line (?P<line>\d+)', re.MULTILINE)
_LIBRARY_MARKERS = ("/site-packages/", "/dist-packages/", "/lib/python", "<frozen ", "<string>")


class Location(NamedTuple):
    file: str
    line: int


def is_library_path(path: str) -> bool:
    return any(marker in path for marker in _LIBRARY_MARKERS)


def traceback_location(traceback: str) -> Location | None:
    """Rule 2: the last application frame of a Python traceback text."""
    frames = [Location(m["file"], int(m["line"])) for m in _FRAME_LINE.finditer(traceback)]
    if not frames:
        return None
    for frame in reversed(frames):
        if not is_library_path(frame.file):
            return frame
    return frames[-1]


def _frame_location(frame: Mapping[str, Any]) -> Location:
    path = frame.get("abs_path") or frame.get("filename") or frame.get("module") or ""
    line = frame.get("lineno")
    return Location(str(path), line if isinstance(line, int) else 0)


def frames_location(frames: Sequence[Mapping[str, Any]]) -> Location | None:
    """Rule 3 on one stack (frames oldest first, as Sentry sends them)."""
    if not frames:
        return None
    for frame in reversed(frames):
        if frame.get("in_app") is True:
            return _frame_location(frame)
    for frame in reversed(frames):
        location = _frame_location(frame)
        if frame.get("in_app") is not False and not is_library_path(location.file):
            return location
    return _frame_location(frames[-1])


def chain_location(stacks: Sequence[Sequence[Mapping[str, Any]]]) -> Location | None:
    """Rule 3 over an exception chain: the last exception that has frames."""
    for frames in reversed(stacks):
        found = frames_location(frames)
        if found is not None:
            return found
    return None


def default_key(project: str, exception_type: str, location: Location | None) -> str:
    if location is None:
        return f"{project}:{exception_type}::"
    return f"{project}:{exception_type}:{location.file}:{location.line}"


def message_key(project: str, template: str) -> str:
    return f"{project}:message:{template}"


def client_key(project: str, default: str, parts: Sequence[str] | None) -> str:
    """Rule 6: apply a client ``fingerprint``; ``default`` is the rule 1-5 key."""
    if not parts:
        return default
    if list(parts) == [DEFAULT_PART]:
        return default
    own = default.removeprefix(f"{project}:")
    return ":".join([project, *(own if p == DEFAULT_PART else p for p in parts)])


def fingerprint(key: str) -> str:
    # surrogatepass: a key built from JSON with a lone surrogate still hashes (stably).
    return hashlib.md5(key.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
