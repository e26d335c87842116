"""Periodic upkeep (usage history retention and downsampling), run by one process at a time."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from suanli.controlplane.appkeys import CONFIG, ENGINE
from suanli.controlplane.certification import lease
from suanli.controlplane.store.usage import CompactionResult, compact_usage
from suanli.schema import utc_now

log = logging.getLogger(__name__)
LEASE_NAME = "usage-maintenance"


async def maintain_once(app: web.Application, holder: str) -> CompactionResult | None:
    """Compact usage history if this process holds the lease; None when another one does."""
    config = app[CONFIG]
    now = utc_now()
    lease_ttl = timedelta(seconds=2 * config.maintenance_interval_s)
    if not await lease.acquire(app[ENGINE], LEASE_NAME, holder, lease_ttl, now):
        return None
    result = await compact_usage(
        app[ENGINE], now, timedelta(days=config.usage_retention_days),
        timedelta(hours=config.usage_full_resolution_hours), config.usage_downsample_interval_s,
    )
    if result.expired or result.downsampled_away:
        log.info("usage history: %d expired, %d downsampled away", result.expired, result.downsampled_away)
    return result


async def maintenance_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run `maintain_once` every `maintenance_interval_s`; a failure is logged and tried again."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def loop() -> None:
        while True:
            await asyncio.sleep(app[CONFIG].maintenance_interval_s)
            try:
                await maintain_once(app, holder)
            except Exception:
                log.exception("usage maintenance failed")

    task = asyncio.create_task(loop(), name="suanli-maintenance")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    try:
        await lease.release(app[ENGINE], LEASE_NAME, holder)
    except Exception:  # the lease expires by itself; shutdown must not fail on it
        log.warning("could not release the %s lease", LEASE_NAME)
