"""Background jobs: head compaction, rollups (AGGREGATION_INTERVAL), retention (SPEC §6.8).

Each runs as a series of small writer jobs (bounded rows / one hour of minutes each), so
ingest requests queued behind them wait milliseconds, not the length of a catch-up.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from compat_prom import rollup, store
from compat_prom.settings import MetricsSettings
from core import memory
from core.context import ServiceContext
from core.jobs import Job
from core.timeparse import parse_duration_ms

COMPACT_GRACE_MS = 120_000  # a block is packed once it ended this long ago
OPEN_PACK_MS = 2 * 60_000  # the open block's settled head rows are packed once they span this
BATCH_ROWS = 20_000
HEAD_WAKE_ROWS = 200_000
QUIET_S = 2.0  # a block still receiving samples is packed once they stop
MAX_STEPS = 500  # per run; the next run continues


def _now_ms() -> int:
    return int(time.time() * 1000)


async def compact(ctx: ServiceContext, now_ms: int | None = None, quiet_s: float = QUIET_S) -> int:
    cutoff = (now_ms or _now_ms()) - COMPACT_GRACE_MS
    total = 0
    for _ in range(MAX_STEPS):
        n = await ctx.writer.run(lambda c: store.compact_head(c, cutoff, quiet_s))
        total += n
        if n == 0:
            break
    # the open block's rows older than the grace period, once they span OPEN_PACK_MS: the
    # head then holds the last 2-5 minutes (reads scan it by time), not up to 32
    total += await ctx.writer.run(lambda c: store.pack_open_block(c, cutoff, OPEN_PACK_MS))
    if total:
        memory.trim()  # a block's packing buffers would otherwise stay in RSS
    return total


async def aggregate(ctx: ServiceContext, now_ms: int | None = None) -> None:
    """Roll up every finished minute (and hour); catches up after downtime in steps."""
    now = now_ms or _now_ms()
    for _ in range(MAX_STEPS):
        if await ctx.writer.run(lambda c: rollup.step(c, now)):
            break
    stamp = datetime.fromtimestamp(now / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await ctx.writer.run(lambda c: store.set_meta(c, "last_aggregation", stamp))


async def retention(ctx: ServiceContext, now_ms: int | None = None) -> int:
    """Delete past RETENTION_RAW / _MINUTE / _HOURLY, never what is not rolled up yet."""
    settings = ctx.settings
    assert isinstance(settings, MetricsSettings)
    now = now_ms or _now_ms()
    with ctx.db.read() as conn:
        done = store.get_meta(conn, store.WATERMARK_KEY)
    rolled = int(done) if done is not None else 0
    raw_cut = min(now - parse_duration_ms(settings.retention_raw), rolled)
    minute_cut = min(
        now - parse_duration_ms(settings.retention_minute), rolled // store.HOUR_MS * store.HOUR_MS
    )
    hour_cut = now - parse_duration_ms(settings.retention_hourly)
    total = 0
    steps = (
        lambda c: store.delete_raw_before(c, raw_cut, BATCH_ROWS),
        lambda c: store.delete_rollups_before(c, store.MINUTE_MS, minute_cut, BATCH_ROWS),
        lambda c: store.delete_rollups_before(c, store.HOUR_MS, hour_cut, BATCH_ROWS),
        lambda c: store.delete_dead_series(c, min(raw_cut, hour_cut), BATCH_ROWS),
    )
    for fn in steps:
        for _ in range(MAX_STEPS):
            n = await ctx.writer.run(fn)
            total += n
            if n < BATCH_ROWS:
                break
    return total


def note_appended(ctx: ServiceContext, rows: int) -> None:
    """Wake compaction early once the head grew by HEAD_WAKE_ROWS (a backfill, a burst):
    head rows cost ~30 bytes each on disk against a few bytes packed, and slow inserts."""
    pending = int(ctx.extra.get("head_rows", 0)) + rows
    job = ctx.extra.get("compact_job")
    if pending >= HEAD_WAKE_ROWS and isinstance(job, Job):
        job.wake()
        pending = 0
    ctx.extra["head_rows"] = pending


def register(ctx: ServiceContext) -> None:
    settings = ctx.settings
    assert isinstance(settings, MetricsSettings)
    # The writer's in-memory series caches (ids it created, bounds it extended) must not
    # outlive a rolled-back job: the next batch would skip re-creating its series.
    ctx.writer.on_rollback(store.forget_known)

    async def compact_job() -> None:
        await compact(ctx)

    async def aggregate_job() -> None:
        await compact(ctx)
        await aggregate(ctx)

    async def retention_job() -> None:
        await retention(ctx)

    ctx.extra["compact_job"] = ctx.jobs.every("metrics-compact", 60, compact_job)
    ctx.jobs.every("metrics-aggregate", settings.aggregation_interval, aggregate_job)
    ctx.jobs.every("metrics-retention", 600, retention_job)
