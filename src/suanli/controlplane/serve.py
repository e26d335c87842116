"""`suanli serve`: run the app until SIGTERM/SIGINT, with periodic maintenance (usage compaction)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from suanli.controlplane.app import create_app
from suanli.controlplane.appkeys import CONFIG, ENGINE
from suanli.controlplane.config import load_config
from suanli.controlplane.store.usage import compact_usage
from suanli.controlplane.tls import server_ssl_context
from suanli.schema import utc_now

log = logging.getLogger(__name__)


async def maintain_once(app: web.Application) -> None:
    config = app[CONFIG]
    result = await compact_usage(
        app[ENGINE], utc_now(), timedelta(days=config.usage_retention_days),
        timedelta(hours=config.usage_full_resolution_hours), config.usage_downsample_interval_s,
    )
    if result.expired or result.downsampled_away:
        log.info("usage history: %d expired, %d downsampled away", result.expired, result.downsampled_away)


async def _maintenance(app: web.Application) -> AsyncIterator[None]:
    """Compaction in the background; a failure is logged and retried next period."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(app[CONFIG].maintenance_interval_s)
            try:
                await maintain_once(app)
            except Exception:
                log.exception("usage maintenance failed")

    task = asyncio.create_task(loop(), name="suanli-maintenance")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def serve(config_path: Path | None, database: str | None, listen: str | None,
          tls_cert: Path | None = None, tls_key: Path | None = None) -> int:
    config = load_config(config_path, database=database, listen=listen, tls_cert=tls_cert, tls_key=tls_key)
    ssl_context = server_ssl_context(config.tls_cert, config.tls_key)
    app = create_app(config)
    app.cleanup_ctx.append(_maintenance)
    scheme = "https" if ssl_context else "http"
    print(f"suanli control plane on {scheme}://{config.listen_host}:{config.listen_port} "
          f"(database {config.database_url.split('://')[0]})", flush=True)
    web.run_app(app, host=config.listen_host, port=config.listen_port, print=None, access_log=None,
                ssl_context=ssl_context)
    return 0
