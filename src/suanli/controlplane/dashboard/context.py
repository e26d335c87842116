"""The dashboard's share of the app's lifetime: logged-out sessions and the utilisation sampler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from suanli.controlplane.appkeys import CONFIG, ENGINE
from suanli.controlplane.dashboard.history import HISTORY, UtilisationHistory
from suanli.controlplane.dashboard.sessions import LOGGED_OUT


async def dashboard_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: sample utilisation in the background from startup until shutdown."""
    settings = app[CONFIG].dashboard
    history = UtilisationHistory(settings.history_samples)
    app[HISTORY] = history
    app[LOGGED_OUT] = {}
    task = asyncio.create_task(history.run_forever(app[ENGINE], settings.sample_interval_s),
                               name="suanli-dashboard-sampler")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
