"""A small FlowRent-like app wired with flowrent_patch, and ``flowmon demo`` to run it.

``flowmon demo`` (core/cli.py imports this package by name) calls ``main``; see
``runner.py`` for what it does and ``docs/flowrent.md`` for "make run + flowmon demo".
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from flowrent_patch.demo.runner import main as run

    return run(argv)
