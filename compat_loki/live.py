"""Wakes live-tail streams when the writer commits, instead of each polling the database.

The writer calls ``notify_threadsafe`` from its thread after every commit (``Writer.on_commit``);
each SSE stream awaits ``wait`` on the event loop, so a new line reaches every open tail
within milliseconds of its commit while idle streams cost nothing.
"""

from __future__ import annotations

import asyncio
import contextlib


class Notifier:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.version = 0
        self._event = asyncio.Event()

    def notify_threadsafe(self) -> None:
        if not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closing under us at shutdown
                self.loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, seen: int, *, within: float) -> bool:
        """True once a commit happened after ``seen`` (a ``version``), False on timeout."""
        if self.version != seen:
            return True
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), within)
        return self.version != seen
