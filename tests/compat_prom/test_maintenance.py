"""The service's jobs end to end: compaction, rollups, retention in bounded steps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from compat_prom import maintenance, store
from compat_prom.service import create_app
from compat_prom.settings import MetricsSettings
from core.labels import Labels, Matcher
from tests.conftest import in_process

H = store.HOUR_MS


def test_jobs_compact_roll_up_and_expire(make_settings: Callable[..., Any]) -> None:
    settings = make_settings(MetricsSettings, RETENTION_RAW="1h", RETENTION_MINUTE="2h")
    with in_process(create_app(settings)) as client:
        ctx = client.app.state.ctx
        now = int(time.time() * 1000)
        start = (now - 3 * H) // H * H
        ts = list(range(start, now - 120_000, 15_000))
        lab = Labels({"__name__": "jobs_total", "k": "v"})
        vals = [float(i) for i in range(len(ts))]
        ctx.writer.run_sync(lambda c: store.append_samples(c, [(lab, ts, vals)]))
        # blocks that just got samples wait for QUIET_S before they are packed (only the
        # open block's settled part may be, once it spans OPEN_PACK_MS)
        cutoff = now - maintenance.COMPACT_GRACE_MS
        open_block = (cutoff - 1) // store.BLOCK_MS
        early = client.portal.call(maintenance.compact, ctx, now)
        with ctx.db.read() as conn:
            packed = conn.execute("SELECT DISTINCT block FROM chunks").fetchall()
        assert packed in ([], [(open_block,)])
        moved = early + client.portal.call(maintenance.compact, ctx, now, 0.0)
        assert moved > 0.8 * len(ts)
        # retention never deletes what is not rolled up yet
        client.portal.call(maintenance.retention, ctx)
        with ctx.db.read() as conn:
            (got,) = store.StoreReader(conn).select([Matcher("k", "=", "v")], start, now)
        assert list(got.timestamps) == ts
        client.portal.call(maintenance.aggregate, ctx)
        deleted = client.portal.call(maintenance.retention, ctx)
        assert deleted > 0
        with ctx.db.read() as conn:
            (got,) = store.StoreReader(conn).select([Matcher("k", "=", "v")], start, now)
            minutes = conn.execute(
                "SELECT min(bucket) FROM rollups WHERE res = ?", (store.MINUTE_MS,)
            ).fetchone()[0]
        raw_from = next(i for i, t in enumerate(got.timestamps) if t in set(ts))
        assert (
            ts[0] < got.timestamps[raw_from] and got.timestamps[raw_from] >= now - H - 30 * 60_000
        )
        assert minutes >= now - 2 * H - H  # minute rollups kept for RETENTION_MINUTE (+1 h)
        assert got.values[-1] == vals[-1] and list(got.timestamps) == sorted(got.timestamps)
        # older part answered from rollups: bucket-end samples with the bucket's last value
        assert got.timestamps[0] % 60_000 == 59_999
        assert client.get("/health").json()["last_aggregation"] is not None


def test_compaction_keeps_the_open_block_s_head_short(make_settings: Callable[..., Any]) -> None:
    """A live collector 20 minutes into a block: its rows older than the grace period are
    packed, the head keeps only the last two minutes."""
    with in_process(create_app(make_settings(MetricsSettings))) as client:
        ctx = client.app.state.ctx
        block_start = int(time.time() * 1000) // store.BLOCK_MS * store.BLOCK_MS - store.BLOCK_MS
        now = block_start + 20 * 60_000
        ts = list(range(block_start, now, 15_000))
        lab = Labels({"__name__": "live_total"})
        vals = [float(i) for i in range(len(ts))]
        ctx.writer.run_sync(lambda c: store.append_samples(c, [(lab, ts, vals)]))
        assert client.portal.call(maintenance.compact, ctx, now) == 72  # 18 minutes
        with ctx.db.read() as conn:
            head = conn.execute("SELECT min(ts), count(*) FROM head").fetchone()
            assert head == (now - maintenance.COMPACT_GRACE_MS, 8)
            (got,) = store.StoreReader(conn).select(
                [Matcher("__name__", "=", "live_total")], 0, now
            )
        assert list(got.timestamps) == ts and list(got.values) == vals
        # the next run packs nothing until the settled part spans OPEN_PACK_MS again
        assert client.portal.call(maintenance.compact, ctx, now + 60_000) == 0
