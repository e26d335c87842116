"""The certification service of a running control plane: the periodic sweep under a lease, the summary cache."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane import appkeys
from suanli.controlplane.certification import keystore, lease
from suanli.controlplane.certification.facts import DigestCache
from suanli.controlplane.certification.settings import CertificationSettings
from suanli.controlplane.certification.summary import signed_summary
from suanli.controlplane.certification.sweep import SweepStats, run_sweep
from suanli.schema import utc_now
from suanli.schema.national import SignedSummary

log = logging.getLogger(__name__)
SWEEP_LEASE = "certification_sweep"
SUMMARY_CACHE_S = 10.0


class CertificationService:
    """Runs sweeps when this process holds the lease, and serves the signed summary from a short cache."""

    def __init__(self, engine: AsyncEngine, settings: CertificationSettings, issuer: str) -> None:
        self.engine = engine
        self.settings = settings
        self.issuer = issuer
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._summary: tuple[float, SignedSummary] | None = None
        self._digests = DigestCache()  # parsed inventories, re-read only when their hash changes
        self._summary_lock = asyncio.Lock()

    async def sweep_if_leader(self, now: datetime | None = None) -> SweepStats | None:
        """One sweep if this process holds (or takes) the lease; None when another process has it."""
        now = now or utc_now()
        ttl = timedelta(seconds=self.settings.sweep_interval_s * 3)
        if not await lease.acquire(self.engine, SWEEP_LEASE, self.holder, ttl, now):
            return None
        stats = await run_sweep(self.engine, self.settings, self.issuer, now, cache=self._digests)
        self._summary = None  # certificates changed: rebuild now, so no pull waits for it
        await self.summary()
        return stats

    async def run_forever(self) -> None:
        """Sweep every interval, the first one interval after start (agents report first);
        a failing sweep is logged and retried at the next tick, never fatal."""
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                await self.sweep_if_leader()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("certification sweep failed")

    async def summary(self) -> SignedSummary:
        """The signed summary, rebuilt at most once per sweep interval (certificates change no faster).

        Building it reads every live certificate, so a pull must not pay for it each time.
        """
        async with self._summary_lock:
            loop_now = asyncio.get_running_loop().time()
            max_age_s = min(max(SUMMARY_CACHE_S, self.settings.sweep_interval_s), self.settings.summary_validity_s / 2)
            if self._summary is None or loop_now - self._summary[0] > max_age_s:
                validity = timedelta(seconds=self.settings.summary_validity_s)
                built = await signed_summary(self.engine, self.issuer, utc_now(), validity, self.settings.passphrase)
                self._summary = (loop_now, built)
            return self._summary[1]

    async def close(self) -> None:
        """Hand the lease back; best effort, since an unreleased lease simply expires."""
        try:
            await lease.release(self.engine, SWEEP_LEASE, self.holder)
        except Exception as exc:  # the database may already be gone at shutdown
            log.warning("could not release the sweep lease: %s", exc)


CERTIFICATION = web.AppKey("certification", CertificationService)


async def certification_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: make sure a signing key exists, then sweep in the background until shutdown."""
    config = app[appkeys.CONFIG]
    settings = config.certification
    service = CertificationService(app[appkeys.ENGINE], settings, settings.issuer_for(config.listen))
    await keystore.load_keys(service.engine, utc_now(), settings.passphrase)
    app[CERTIFICATION] = service
    task = asyncio.create_task(service.run_forever()) if settings.enabled else None
    yield
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    await service.close()
