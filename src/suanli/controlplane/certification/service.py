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

from suanli.controlplane import appkeys, signing
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
PAGE_KEY_CACHE_S = 60.0  # loading a key decrypts its PEM: not once per feed page


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
        self._rebuild: asyncio.Task[SignedSummary] | None = None
        self._page_key: tuple[float, signing.SigningKey] | None = None

    async def sweep_if_leader(self, now: datetime | None = None) -> SweepStats | None:
        """One sweep if this process holds (or takes) the lease; None when another process has it."""
        now = now or utc_now()
        ttl = timedelta(seconds=self.settings.sweep_interval_s * 3)
        if not await lease.acquire(self.engine, SWEEP_LEASE, self.holder, ttl, now):
            # Another process sweeps: the digests kept for our sweeps (~6 KB a node) are dropped,
            # or every process that ever held the lease would keep one per node of the fleet.
            self._digests.entries.clear()
            return None
        async def keep_lease() -> bool:
            return await lease.acquire(self.engine, SWEEP_LEASE, self.holder, ttl, utc_now())

        stats = await run_sweep(self.engine, self.settings, self.issuer, now, cache=self._digests,
                                keep_lease=keep_lease)
        await self._locked_rebuild()  # certificates changed: rebuild now, so no pull waits for it
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

    async def page_signing_key(self) -> signing.SigningKey:
        """The active key for feed pages, re-read at most every PAGE_KEY_CACHE_S (a rotated-out key stays
        published, so a page signed with it just before a rotation still verifies)."""
        loop_now = asyncio.get_running_loop().time()
        if self._page_key is None or loop_now - self._page_key[0] > PAGE_KEY_CACHE_S:
            key = signing.active_key(await keystore.load_keys(self.engine, utc_now(), self.settings.passphrase))
            self._page_key = (loop_now, key)
        return self._page_key[1]

    async def _rebuild_summary(self) -> SignedSummary:
        validity = timedelta(seconds=self.settings.summary_validity_s)
        built = await signed_summary(self.engine, self.issuer, utc_now(), validity, self.settings.passphrase)
        self._summary = (asyncio.get_running_loop().time(), built)
        return built

    async def summary(self) -> SignedSummary:
        """The signed summary; an old one is served while a fresh one is built in the background.

        Building reads every live certificate, so a pull must not wait for it: only the first
        request, or one after the summary came close to expiry, waits for a build.
        """
        loop_now = asyncio.get_running_loop().time()
        refresh_after_s = min(max(SUMMARY_CACHE_S, self.settings.sweep_interval_s), self.settings.summary_validity_s / 4)
        cached = self._summary
        if cached is None and self._rebuild is not None and not self._rebuild.done():
            try:  # the build started with the server: not a second one
                return await asyncio.shield(self._rebuild)
            except Exception:  # noqa: BLE001 - logged by the task; this request builds again below
                pass
        if cached is not None and loop_now - cached[0] <= self.settings.summary_validity_s / 2:
            if loop_now - cached[0] > refresh_after_s and (self._rebuild is None or self._rebuild.done()):
                self._rebuild = asyncio.create_task(self._locked_rebuild())
            return cached[1]
        return await self._locked_rebuild()

    def warm_summary(self) -> None:
        """Start building the summary in the background, so the first pull after a start need not wait for it."""
        if self._rebuild is None or self._rebuild.done():
            self._rebuild = asyncio.create_task(self._locked_rebuild())
            self._rebuild.add_done_callback(_log_failed_build)

    async def _locked_rebuild(self) -> SignedSummary:
        async with self._summary_lock:
            return await self._rebuild_summary()

    async def close(self) -> None:
        """Stop a summary build and hand the lease back; best effort, since an unreleased lease simply expires."""
        if self._rebuild is not None:
            self._rebuild.cancel()
        try:
            await lease.release(self.engine, SWEEP_LEASE, self.holder)
        except Exception as exc:  # the database may already be gone at shutdown
            log.warning("could not release the sweep lease: %s", exc)


def _log_failed_build(task: asyncio.Task[SignedSummary]) -> None:
    """A background build that failed is logged; the next request builds again."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("building the signed summary failed: %s", task.exception())


CERTIFICATION = web.AppKey("certification", CertificationService)


async def certification_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: make sure a signing key exists, then sweep in the background until shutdown."""
    config = app[appkeys.CONFIG]
    settings = config.certification
    service = CertificationService(app[appkeys.ENGINE], settings, settings.issuer_for(config.listen))
    await keystore.load_keys(service.engine, utc_now(), settings.passphrase)
    app[CERTIFICATION] = service
    service.warm_summary()  # reads every live certificate: off the first pull's request path
    task = asyncio.create_task(service.run_forever()) if settings.enabled else None
    yield
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    await service.close()
