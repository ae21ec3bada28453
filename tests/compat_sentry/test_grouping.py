"""SPEC §4.5 fingerprints, the worked example reproduced exactly, and the SDK rules."""

from __future__ import annotations

import doctest
import hashlib

from compat_sentry import grouping
from compat_sentry.grouping import Location

SPEC_TRACEBACK = """
    Traceback (most recent call last):
      File "/app/app/routes/bookings.py", line 142, in create_booking
        validate_input(data)
      File "/app/app/utils/validation.py", line 56, in validate_input
        raise ValueError("invalid input")
    ValueError: invalid input
  """


def test_spec_worked_example() -> None:
    location = grouping.traceback_location(SPEC_TRACEBACK)
    assert location == Location("/app/app/utils/validation.py", 56)
    key = grouping.default_key("flowrent", "ValueError", location)
    assert key == "flowrent:ValueError:/app/app/utils/validation.py:56"
    expected = hashlib.md5(b"flowrent:ValueError:/app/app/utils/validation.py:56").hexdigest()
    assert grouping.fingerprint(key) == expected
    assert len(expected) == 32


def test_module_docstring_examples_run() -> None:
    failures, tried = doctest.testmod(grouping)
    assert tried > 0 and failures == 0


def test_library_frames_are_skipped_in_text() -> None:
    tb = (
        'File "/app/app/api.py", line 10, in handler\n'
        'File "/usr/lib/python3.11/json/decoder.py", line 337, in decode\n'
        'File "/app/.venv/lib/python3.11/site-packages/x/y.py", line 5, in z\n'
    )
    assert grouping.traceback_location(tb) == Location("/app/app/api.py", 10)


def test_only_library_frames_uses_the_last() -> None:
    tb = 'File "/usr/lib/python3.11/a.py", line 1, in a\nFile "<frozen os>", line 2, in b\n'
    assert grouping.traceback_location(tb) == Location("<frozen os>", 2)


def test_no_frames_gives_empty_location() -> None:
    assert grouping.traceback_location("ValueError: x") is None
    assert grouping.default_key("p", "E", None) == "p:E::"


def test_in_app_frame_wins_over_later_library_frames() -> None:
    frames = [
        {"abs_path": "/app/a.py", "lineno": 1, "in_app": True},
        {"abs_path": "/app/b.py", "lineno": 2, "in_app": True},
        {"abs_path": "/venv/lib/python3.11/site-packages/x.py", "lineno": 3, "in_app": False},
    ]
    assert grouping.frames_location(frames) == Location("/app/b.py", 2)


def test_without_in_app_flags_the_path_rule_applies() -> None:
    frames = [
        {"abs_path": "/srv/app.py", "lineno": 7},
        {"abs_path": "/usr/lib/python3.11/site-packages/lib.py", "lineno": 9},
    ]
    assert grouping.frames_location(frames) == Location("/srv/app.py", 7)


def test_chain_uses_last_exception_with_frames() -> None:
    cause = [{"abs_path": "/app/cause.py", "lineno": 1, "in_app": True}]
    outer = [{"abs_path": "/app/outer.py", "lineno": 2, "in_app": True}]
    assert grouping.chain_location([cause, outer]) == Location("/app/outer.py", 2)
    assert grouping.chain_location([cause, []]) == Location("/app/cause.py", 1)
    assert grouping.chain_location([]) is None


def test_client_fingerprint_rules() -> None:
    default = "p:ValueError:/app/x.py:3"
    assert grouping.client_key("p", default, None) == default
    assert grouping.client_key("p", default, ["{{ default }}"]) == default
    assert grouping.client_key("p", default, ["db-down"]) == "p:db-down"
    assert (
        grouping.client_key("p", default, ["{{ default }}", "tenant-7"])
        == "p:ValueError:/app/x.py:3:tenant-7"
    )


def test_message_key() -> None:
    assert grouping.message_key("p", "User %s logged in") == "p:message:User %s logged in"
