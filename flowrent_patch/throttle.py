"""A warning logged at most once per interval, counting the ones it held back.

When a monitoring service is down every flush or report fails; one line a minute says so
without flooding FlowRent's own logs (which the log store then has to keep).
"""

from __future__ import annotations

import logging
import threading
import time


class ThrottledWarning:
    def __init__(self, logger: logging.Logger, every_seconds: float = 60.0) -> None:
        self.logger = logger
        self.every = every_seconds
        self._lock = threading.Lock()
        self._last: float | None = None
        self._held = 0

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last < self.every:
                self._held += 1
                return
            held, self._held = self._held, 0
            self._last = now
        more = f" ({held} more since the last warning)" if held else ""
        self.logger.warning("%s%s", message, more)
