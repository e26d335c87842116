"""`suanli-agent run`: the scheduler of usage, inventory and delivery cycles, signals and shutdown.

APScheduler (3.x, asyncio) drives three jobs with jittered intervals: usage every
`usage_interval_s`, an inventory check (collect, hash, spool when changed or due) and delivery.
Collections run in a worker thread so a slow collector never stalls delivery. Signals are turned
into events the main loop handles: SIGHUP reloads the config, SIGTERM/SIGINT stop the agent after
a flush bounded by `shutdown_flush_s`.
"""

from __future__ import annotations

import asyncio
import enum
import os
import random
import signal
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from suanli.agent.backoff import Backoff
from suanli.agent.delivery import Delivery, Outcome
from suanli.agent.enrollment import Enrollment
from suanli.agent.fingerprint import inventory_hash
from suanli.agent.heap import release_free_heap
from suanli.agent.logs import log_event, set_level
from suanli.agent.sdnotify import Notifier
from suanli.agent.spool import Spool
from suanli.agent.status import write_status
from suanli.agent.transport import HttpClient
from suanli.schema import Inventory, Usage, utc_now

# How often the inventory is collected to look for hardware changes; it is spooled only when its
# hash changed or `inventory_interval_s` passed since the last one was spooled.
INVENTORY_CHECK_MAX_S = 60.0
MAX_BACKOFF_S = 300.0


class Collection(Protocol):
    """What the service needs from the collector runner (blocking calls, run in a thread)."""

    def inventory(self) -> Inventory: ...

    def usage(self) -> Usage: ...

    def close(self) -> None: ...


class ServiceConfig(Protocol):
    """The `AgentConfig` keys the service reads."""

    server_url: Any
    state_dir: Any
    usage_interval_s: float
    inventory_interval_s: float
    delivery_interval_s: float
    jitter_fraction: float
    collector_timeout_s: float
    spool_max_bytes: int
    spool_max_reports: int
    batch_max_reports: int
    tls_verify: bool
    ca_bundle: Any
    request_timeout_s: float
    shutdown_flush_s: float
    log_level: str


class ServiceSignal(enum.Enum):
    RELOAD = "reload"
    STOP = "stop"


class AgentService:
    """One running agent: owns the spool, the HTTP client, the scheduler and the notifier."""

    def __init__(
        self,
        config: ServiceConfig,
        enrollment: Enrollment,
        collection: Collection,
        load_config: Callable[[], ServiceConfig] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.enrollment = enrollment
        self.collection = collection
        self.load_config = load_config
        self.notifier = notifier or Notifier()
        self.state_dir = Path(config.state_dir)
        self.spool = Spool(self.state_dir, config.spool_max_bytes, config.spool_max_reports)
        self.delivery: Delivery | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self._signals: asyncio.Queue[ServiceSignal] = asyncio.Queue()
        self._running_cycles: set[asyncio.Task[Any]] = set()
        self._delivery_lock = asyncio.Lock()
        # One collection at a time: the runner starts no collector whose previous call is still
        # running, so an inventory and a usage run side by side would report each other as timeouts.
        self._collect_lock = asyncio.Lock()
        self._ready = False
        self._started_at = time.time()
        self._last_progress = time.monotonic()
        self._last_usage_at: float | None = None
        self._last_inventory_at: float | None = None
        self._last_inventory_hash: str | None = None
        self._usage_collectors: list[dict[str, Any]] = []
        self._inventory_collectors: list[dict[str, Any]] = []
        self._delivery_failing: bool | None = None

    # -- cycles (also called directly by tests and the footprint benchmark) ----------------------

    async def usage_cycle(self) -> int:
        """Collect usage and spool it; return its seq."""
        async with self._collect_lock:
            usage = await asyncio.to_thread(self.collection.usage)
        seq = self.spool.append("usage", usage.model_dump_json(), utc_now().isoformat())
        self._last_usage_at = time.time()
        self._last_progress = time.monotonic()
        self._usage_collectors = [c.model_dump(mode="json") for c in usage.collectors]
        self._after_cycle()
        return seq

    async def inventory_cycle(self, force: bool = False) -> int | None:
        """Collect the inventory; spool it when forced, due, or its hash changed. Return its seq."""
        async with self._collect_lock:
            inventory = await asyncio.to_thread(self.collection.inventory)
        digest = inventory_hash(inventory)
        self._inventory_collectors = [c.model_dump(mode="json") for c in inventory.collectors]
        due = (
            self._last_inventory_at is None
            or time.time() - self._last_inventory_at >= self.config.inventory_interval_s
        )
        if not (force or due or digest != self._last_inventory_hash):
            return None
        seq = self.spool.append("inventory", inventory.model_dump_json(), utc_now().isoformat())
        if self._last_inventory_hash is not None and digest != self._last_inventory_hash:
            log_event("inventory.changed", seq=seq, hash=digest[:16])
        self._last_inventory_hash, self._last_inventory_at = digest, time.time()
        self._after_cycle()
        return seq

    async def delivery_cycle(self, ignore_backoff: bool = False) -> Outcome:
        """Drain the spool to the control plane (one drain at a time)."""
        if self.delivery is None:
            raise RuntimeError("service not started")
        async with self._delivery_lock:
            outcome = await self.delivery.drain(ignore_backoff=ignore_backoff)
        # Snapshots follow every collection; after a delivery only when it turned from failing to
        # working or back, so steady operation costs one status write per report, not two.
        failing = outcome is Outcome.FAILED
        if outcome not in (Outcome.IDLE, Outcome.WAITING):
            if failing != self._delivery_failing:
                self._delivery_failing = failing
                self.write_status()
            release_free_heap()  # the request's buffers, before the agent sleeps till the next cycle
        return outcome

    def _after_cycle(self) -> None:
        if not self._ready:
            self._ready = True
            self.notifier.ready(status=f"reporting as {self.enrollment.node_id}")
            log_event("agent.ready", node_id=self.enrollment.node_id, seq=self.spool.stats().last_seq)
        self.write_status()
        release_free_heap()  # the collection's buffers, before the agent sleeps till the next cycle

    def write_status(self, running: bool = True) -> None:
        stats = self.spool.stats()
        delivery = self.delivery.state if self.delivery else None
        write_status(
            self.state_dir,
            {
                "running": running,
                "pid": os.getpid(),
                "started_at": self._started_at,
                "last_usage_at": self._last_usage_at,
                "last_inventory_at": self._last_inventory_at,
                "collectors": _merge_collectors(self._inventory_collectors, self._usage_collectors),
                "spool": {"depth": stats.depth, "size_bytes": stats.size_bytes, "last_seq": stats.last_seq},
                "delivery": vars(delivery) if delivery else {},
            },
        )

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP client and schedule the jobs; inventory and usage run at once."""
        self.open()
        config = self.config
        self.scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        self._schedule(config, first_run=True)
        self.scheduler.start()
        assert self.delivery is not None
        log_event(
            "agent.start", node_id=self.enrollment.node_id, server=self.delivery.server_url,
            usage_interval_s=config.usage_interval_s, last_seq=self.spool.stats().last_seq,
            spool_depth=self.spool.depth(),
        )

    def open(self) -> None:
        """Create the HTTP client and the delivery (the cycles can then be driven directly)."""
        config = self.config
        self.delivery = Delivery(
            self.spool,
            self._client(config),
            self.enrollment.node_id,
            self.enrollment.credential,
            config.batch_max_reports,
            Backoff(base_s=max(1.0, config.delivery_interval_s), cap_s=MAX_BACKOFF_S),
        )

    def _client(self, config: ServiceConfig) -> HttpClient:
        return HttpClient(self._server_url(config), config.request_timeout_s, config.tls_verify, config.ca_bundle)

    def _server_url(self, config: ServiceConfig) -> str:
        """The configured server URL wins (a control plane moved behind a new name), else the enrolled one."""
        return str(config.server_url or self.enrollment.server_url).rstrip("/")

    def _schedule(self, config: ServiceConfig, first_run: bool) -> None:
        assert self.scheduler is not None
        now = _scheduler_now()
        check_s = min(INVENTORY_CHECK_MAX_S, config.inventory_interval_s)
        jobs = (
            ("usage", self._job(self.usage_cycle), config.usage_interval_s, now),
            ("inventory", self._job(self.inventory_cycle), check_s, now),
            # The first delivery lands anywhere in its first interval: agents of a data center that
            # restarted together spread their first requests instead of arriving in one second.
            ("delivery", self._job(self.delivery_cycle), config.delivery_interval_s,
             now + timedelta(seconds=random.uniform(0.0, config.delivery_interval_s))),
        )
        for job_id, function, interval_s, first in jobs:
            trigger = IntervalTrigger(seconds=interval_s, jitter=interval_s * config.jitter_fraction)
            if first_run:
                self.scheduler.add_job(function, trigger, id=job_id, misfire_grace_time=None, next_run_time=first)
            else:
                self.scheduler.reschedule_job(job_id, trigger=trigger)

    def _job(self, cycle: Callable[[], Any]) -> Callable[[], Any]:
        """Wrap a cycle: failures are logged as events (never kill the scheduler) and tracked for stop."""

        async def job() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running_cycles.add(task)
            try:
                await cycle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failing cycle must not stop the agent
                self._last_progress = time.monotonic()
                log_event("cycle.failed", 40, cycle=cycle.__name__, error=f"{type(exc).__name__}: {exc}")
            finally:
                if task is not None:
                    self._running_cycles.discard(task)

        job.__name__ = cycle.__name__
        return job

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit status (0: stopped cleanly)."""
        self._install_signal_handlers()
        watchdog = asyncio.create_task(self._watchdog_loop())
        try:
            await self.start()
            while (received := await self._signals.get()) is ServiceSignal.RELOAD:
                await self.reload()
            log_event("agent.stopping", reason=received.value)
        finally:
            watchdog.cancel()
            await self.stop()
        return 0

    def request(self, what: ServiceSignal) -> None:
        """Ask the main loop to reload or stop (what signal handlers call)."""
        self._signals.put_nowait(what)

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self.request, ServiceSignal.RELOAD)
        loop.add_signal_handler(signal.SIGTERM, self.request, ServiceSignal.STOP)
        loop.add_signal_handler(signal.SIGINT, self.request, ServiceSignal.STOP)

    async def reload(self) -> None:
        """Re-read the config; a bad config is logged and the running one kept."""
        if self.load_config is None:
            return
        self.notifier.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
        try:
            config = self.load_config()
        except Exception as exc:  # a typo in agent.toml must not take a running agent down
            log_event("config.reload_failed", 40, error=f"{type(exc).__name__}: {exc}")
            self.notifier.ready()
            return
        await self._apply(config)
        self.notifier.ready()
        log_event("config.reloaded", usage_interval_s=config.usage_interval_s, server=self._server_url(config))

    async def _apply(self, config: ServiceConfig) -> None:
        old, self.config = self.config, config
        set_level(config.log_level)
        self.spool.set_bounds(config.spool_max_bytes, config.spool_max_reports)
        assert self.delivery is not None
        self.delivery.batch_max_reports = config.batch_max_reports
        connection = (self._server_url(config), config.tls_verify, config.ca_bundle, config.request_timeout_s)
        if connection != (self._server_url(old), old.tls_verify, old.ca_bundle, old.request_timeout_s):
            async with self._delivery_lock:
                self.delivery.client.close()
                self.delivery.client = self._client(config)
        self._schedule(config, first_run=False)

    async def stop(self) -> None:
        """Stop scheduling, let running cycles finish briefly, flush the spool within the budget, close."""
        self.notifier.stopping()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        budget_s = self.config.shutdown_flush_s
        deadline = time.monotonic() + budget_s
        if self._running_cycles:
            await asyncio.wait(set(self._running_cycles), timeout=budget_s / 2)
        await self._flush(max(0.1, deadline - time.monotonic()))
        for task in set(self._running_cycles):
            task.cancel()
        if self.delivery is not None:
            self.delivery.client.close()
        self.write_status(running=False)
        log_event("agent.stopped", spool_depth=self.spool.depth(), last_seq=self.spool.stats().last_seq)
        self.spool.close()
        self.collection.close()
        self.notifier.close()

    async def _flush(self, budget_s: float) -> None:
        if self.delivery is None or self.spool.depth() == 0:
            return
        try:
            async with asyncio.timeout(budget_s):
                outcome = await self.delivery_cycle(ignore_backoff=True)
        except TimeoutError:
            outcome = None
        log_event("agent.flush", outcome=outcome.value if outcome else "timeout", spool_depth=self.spool.depth())

    async def _watchdog_loop(self) -> None:
        """Ping the systemd watchdog while cycles keep completing; a stuck agent gets restarted."""
        interval_s = self.notifier.watchdog_interval_s
        if interval_s is None:
            return
        while True:
            await asyncio.sleep(interval_s)
            stale_after_s = 3 * self.config.usage_interval_s + self.config.collector_timeout_s + 30
            if time.monotonic() - self._last_progress < stale_after_s:
                self.notifier.watchdog()
            else:
                log_event("watchdog.withheld", 40, since_progress_s=round(time.monotonic() - self._last_progress))


def _scheduler_now() -> datetime:
    return datetime.now().astimezone()


def _merge_collectors(inventory: list[dict[str, Any]], usage: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-collector status of the last cycles: the usage run's entry wins over the inventory's."""
    merged = {c["name"]: c for c in inventory}
    merged.update({c["name"]: c for c in usage})
    return [merged[name] for name in sorted(merged)]
