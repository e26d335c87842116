"""Utilisation over time for the dashboard's charts: the fleet's accelerators sampled from the live aggregates.

Samples live in this process's memory (a bounded ring), so the chart starts empty after a restart
and each instance behind a load balancer keeps its own; per-node history comes from the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.api.access import require_role
from suanli.controlplane.appkeys import CONFIG
from suanli.controlplane.store.capacity import CapacityQuery, query_capacity
from suanli.schema import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    at: datetime
    nodes: int
    accelerators_total: int
    accelerators_in_use: int
    models: dict[str, tuple[int, int]]  # "vendor model" → (total, in use)

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "nodes": self.nodes, "accelerators_total": self.accelerators_total,
                "accelerators_in_use": self.accelerators_in_use,
                "models": {name: {"total": t, "in_use": u} for name, (t, u) in self.models.items()}}


class UtilisationHistory:
    """The last `max_samples` samples, oldest first."""

    def __init__(self, max_samples: int) -> None:
        self.samples: deque[Sample] = deque(maxlen=max_samples)

    async def sample(self, engine: AsyncEngine) -> Sample:
        _, total = await query_capacity(engine, CapacityQuery(by="province"))
        models = {f"{m.vendor} {m.model}".strip(): (m.total, m.in_use) for m in total.accelerators}
        taken = Sample(utc_now(), total.nodes, total.accelerators_total, total.accelerators_in_use, models)
        self.samples.append(taken)
        return taken

    async def run_forever(self, engine: AsyncEngine, interval_s: float) -> None:
        """Sample now and every `interval_s`; a failed sample is logged and the next one tried."""
        while True:
            try:
                await self.sample(engine)
            except Exception:
                log.exception("utilisation sample failed")
            await asyncio.sleep(interval_s)


HISTORY = web.AppKey("utilisation_history", UtilisationHistory)


async def get_utilisation(request: web.Request) -> web.Response:
    """`GET /dashboard/utilisation`: the samples, for the dashboard's fleet chart."""
    await require_role(request)
    samples = [s.as_json() for s in request.app[HISTORY].samples]
    interval_s = request.app[CONFIG].dashboard.sample_interval_s
    return web.json_response({"interval_s": interval_s, "samples": samples})
