"""Per-project rate limit for error events (``RATE_LIMIT_PER_MINUTE``), answered as Sentry does.

A token bucket per project: ``limit`` tokens, refilled at ``limit / 60`` per second, so a
quiet project can burst a full minute's worth and a steady sender gets exactly its rate.
Over it the answer is 429 with ``Retry-After`` and ``X-Sentry-Rate-Limits:
<seconds>:error:project`` (https://develop.sentry.dev/sdk/expected-features/rate-limiting/).
Only the ``error`` category is named: the SDK then holds back error events alone and keeps
sending transactions, sessions, check-ins and logs, which this limit does not count.

In memory on purpose: a limit that resets on restart is harmless, and a table would put a
write on every request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from core.errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(max(per_minute, 1))
        self.rate = self.capacity / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, project: str, n: int = 1) -> None:
        """Spend ``n`` tokens of ``project`` or raise ``RateLimited`` (429)."""
        now = self.clock()
        with self._lock:
            tokens, stamp = self._buckets.get(project, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
            if tokens < n:
                self._buckets[project] = (tokens, now)
                wait = max(1, math.ceil((n - tokens) / self.rate))
                raise RateLimited(
                    f"rate limit of {int(self.capacity)} events per minute exceeded "
                    f"for project {project!r}",
                    retry_after=wait,
                    headers={"X-Sentry-Rate-Limits": f"{wait}:error:project"},
                )
            self._buckets[project] = (tokens - n, now)
