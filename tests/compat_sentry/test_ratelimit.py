"""Token bucket per project, with a fake clock."""

from __future__ import annotations

import pytest

from compat_sentry.ratelimit import RateLimiter
from core.errors import RateLimited


def test_burst_then_refill_per_project() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one token per second
    for _ in range(60):
        limiter.take("a")
    with pytest.raises(RateLimited) as info:
        limiter.take("a")
    assert info.value.headers["Retry-After"] == "1"
    assert info.value.headers["X-Sentry-Rate-Limits"] == "1:error:project"
    limiter.take("b")  # other projects have their own bucket
    now[0] += 1.0
    limiter.take("a")
    with pytest.raises(RateLimited):
        limiter.take("a")
    now[0] += 3600
    for _ in range(60):  # refills to the capacity, not beyond
        limiter.take("a")
    with pytest.raises(RateLimited):
        limiter.take("a")


def test_retry_after_covers_a_batch() -> None:
    limiter = RateLimiter(60, clock=lambda: 0.0)
    for _ in range(60):
        limiter.take("a")
    with pytest.raises(RateLimited) as info:
        limiter.take("a", 5)
    assert info.value.retry_after == 5
