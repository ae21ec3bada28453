"""How fast the host is right now: a fixed pure-Python loop (3 M multiply-adds).

The 2-core reference box's speed moves during a day (0.255-0.386 s for this loop on
2026-11-26), and every throughput figure moves with it; docs/benchmarks.md quotes this
"probe" next to a run. Run: ``.venv/bin/python bench/probe.py``.
"""

from __future__ import annotations

import time

# Run as module-level code (names in a dict, not function locals): the figures in
# docs/benchmarks.md were taken that way, and locals would make it ~2x faster.
LOOP = "total = 0\nfor i in range(3_000_000):\n    total += i * i\n"


def probe() -> float:
    started = time.perf_counter()
    exec(LOOP, {})  # a fixed loop, no outside input
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"probe {probe():.3f} s")
