"""The service in-process: scheduled cycles reach the control plane, inventory on change, reload, stop."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import free_tcp_port
from fakes.agent_collection import FakeCollection, agent_config
from fakes.control_plane import CREDENTIAL, NODE_ID, FakeControlPlane

from suanli.agent.cli import main
from suanli.agent.commands import EXIT_CONFIG, run_command
from suanli.agent.delivery import Outcome
from suanli.agent.enrollment import Enrollment
from suanli.agent.sdnotify import Notifier
from suanli.agent.service import AgentService, ServiceSignal
from suanli.agent.state import InstanceLock
from suanli.agent.status import STATUS_FILE
from suanli.schema import Inventory, Usage

FAST = dict(usage_interval_s=0.1, delivery_interval_s=0.1, inventory_interval_s=900.0, jitter_fraction=0.0)


def enrollment(server_url: str) -> Enrollment:
    return Enrollment(server_url, NODE_ID, CREDENTIAL, "dc-jinan-1", "CN-SD", "2026-11-21T08:00:00+00:00")


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for a condition the scheduler brings about; the bound only keeps a broken test from hanging."""
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_run_collects_spools_and_delivers_every_seq_once(
    tmp_path: Path, plane: FakeControlPlane, server_url: str
) -> None:
    collection = FakeCollection()
    service = AgentService(agent_config(tmp_path, **FAST), enrollment(server_url), collection, notifier=Notifier({}))
    running = asyncio.create_task(service.run())
    await until(lambda: sum(r["kind"] == "usage" for r in plane.stored.values()) >= 5, "five usage reports stored")
    service.request(ServiceSignal.STOP)
    assert await running == 0
    assert plane.stored[1]["kind"] == "inventory"  # inventory at start comes first
    status = json.loads((tmp_path / STATUS_FILE).read_text())
    last_seq = status["spool"]["last_seq"]
    assert sorted(plane.stored) == list(range(1, last_seq + 1))  # no gap, nothing left behind
    assert collection.closed
    assert status["running"] is False and status["delivery"]["last_success_at"]
    assert {c["name"] for c in status["collectors"]} == {"cpu", "gpu"}


async def test_inventory_is_spooled_at_start_on_change_and_when_due(tmp_path: Path) -> None:
    collection = FakeCollection(gpu_count=2)
    config = agent_config(tmp_path, inventory_interval_s=900.0)
    service = AgentService(config, enrollment("http://127.0.0.1:9"), collection, notifier=Notifier({}))
    assert await service.inventory_cycle() == 1  # first: always
    assert await service.inventory_cycle() is None  # only the filesystem fill level moved
    collection.gpu_count = 1  # a GPU fell off the bus
    assert await service.inventory_cycle() == 2
    assert await service.inventory_cycle() is None
    config.inventory_interval_s = 0.0  # due
    assert await service.inventory_cycle() == 3
    service.spool.close()


async def test_outage_keeps_reports_and_stop_returns_with_them_spooled(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_tcp_port()}"
    service = AgentService(
        agent_config(tmp_path, shutdown_flush_s=0.5, **FAST), enrollment(url), FakeCollection(), notifier=Notifier({})
    )
    running = asyncio.create_task(service.run())
    await until(lambda: service.spool.depth() >= 4, "four reports spooled during the outage")
    service.request(ServiceSignal.STOP)
    assert await running == 0
    status = json.loads((tmp_path / STATUS_FILE).read_text())
    assert status["spool"]["depth"] >= 4
    assert "ConnectionRefusedError" in status["delivery"]["last_error"]


async def test_reload_applies_new_intervals_and_keeps_running_on_bad_config(
    tmp_path: Path, server_url: str
) -> None:
    configs: list[SimpleNamespace | Exception] = [
        agent_config(tmp_path, **{**FAST, "usage_interval_s": 7.0, "spool_max_reports": 55}),
        ValueError("usage_interval_s: must be a number"),
    ]

    def load() -> SimpleNamespace:
        value = configs.pop(0)
        if isinstance(value, Exception):
            raise value
        return value

    service = AgentService(
        agent_config(tmp_path, **FAST), enrollment(server_url), FakeCollection(), load, Notifier({})
    )
    running = asyncio.create_task(service.run())
    await until(lambda: service.scheduler is not None and service.scheduler.running, "scheduler started")
    service.request(ServiceSignal.RELOAD)
    await until(lambda: service.spool.max_reports == 55, "reloaded bounds applied")
    usage_job = service.scheduler.get_job("usage")
    assert usage_job.trigger.interval.total_seconds() == 7.0
    service.request(ServiceSignal.RELOAD)  # the broken config is refused, the agent keeps going
    await until(lambda: not configs, "second reload attempted")
    service.request(ServiceSignal.STOP)
    assert await running == 0
    assert service.config.usage_interval_s == 7.0


async def test_ready_is_sent_after_the_first_cycle_and_stopping_on_exit(
    tmp_path: Path, server_url: str
) -> None:
    path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.setblocking(False)
    notifier = Notifier({"NOTIFY_SOCKET": str(path)})
    service = AgentService(agent_config(tmp_path, **FAST), enrollment(server_url), FakeCollection(), None, notifier)
    running = asyncio.create_task(service.run())
    messages: list[bytes] = []

    def drain() -> bool:
        try:
            while True:
                messages.append(listener.recv(4096))
        except BlockingIOError:
            return any(m.startswith(b"READY=1") for m in messages)

    await until(drain, "READY=1 received")
    service.request(ServiceSignal.STOP)
    assert await running == 0
    drain()
    listener.close()
    assert messages[-1] == b"STOPPING=1"
    assert sum(m.startswith(b"READY=1") for m in messages) == 1


def test_run_without_enrollment_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text("")
    assert main(["run", "--state-dir", str(tmp_path / "state"), "--config", str(tmp_path / "agent.toml")]) == 2
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700  # got as far as the state dir
    (tmp_path / "agent.toml").write_text("usage_interval_s = 0\n")  # below the allowed minimum
    assert main(["run", "--state-dir", str(tmp_path / "state"), "--config", str(tmp_path / "agent.toml")]) == 2


def test_second_agent_on_a_held_state_dir_exits_with_configuration_error(tmp_path: Path) -> None:
    holder = InstanceLock(tmp_path)
    holder.acquire()
    try:
        assert run_command(agent_config(tmp_path), lambda config: FakeCollection()) == EXIT_CONFIG
    finally:
        holder.release()


class OverlapProbe(FakeCollection):
    """Records how many collections ran at once (the runner must never see two)."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.most_active = 0

    def _enter(self) -> None:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        time.sleep(0.05)
        self.active -= 1

    def inventory(self) -> Inventory:
        self._enter()
        return super().inventory()

    def usage(self) -> Usage:
        self._enter()
        return super().usage()


async def test_collections_never_overlap(tmp_path: Path, server_url: str) -> None:
    probe = OverlapProbe()
    config = agent_config(tmp_path, **{**FAST, "usage_interval_s": 0.05})
    service = AgentService(config, enrollment(server_url), probe, notifier=Notifier({}))
    running = asyncio.create_task(service.run())
    await until(lambda: probe.usage_calls >= 5 and probe.inventory_calls >= 1, "collections ran")
    service.request(ServiceSignal.STOP)
    assert await running == 0
    assert probe.most_active == 1


async def test_watchdog_pings_only_while_cycles_make_progress(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.setblocking(False)
    notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "100000"})  # ping every 0.05 s
    service = AgentService(agent_config(tmp_path), enrollment("http://127.0.0.1:9"), FakeCollection(), None, notifier)
    pings: list[bytes] = []

    def received() -> int:
        try:
            while True:
                pings.append(listener.recv(64))
        except BlockingIOError:
            return len(pings)

    watchdog = asyncio.create_task(service._watchdog_loop())
    try:
        await until(lambda: received() >= 2, "watchdog pings while healthy")
        service._last_progress -= 10_000  # no cycle finished for hours: the agent is stuck
        await asyncio.sleep(0.2)
        received()
        stuck_since = len(pings)
        await asyncio.sleep(0.3)
        assert received() == stuck_since  # systemd's watchdog will now restart it
    finally:
        watchdog.cancel()
        listener.close()
        service.spool.close()
    assert set(pings) == {b"WATCHDOG=1"}


async def test_heap_is_trimmed_after_a_spooled_cycle_and_a_delivery_not_after_an_idle_one(
    tmp_path: Path, plane: FakeControlPlane, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trims: list[str] = []
    monkeypatch.setattr("suanli.agent.service.release_free_heap", lambda: trims.append("trim"))
    service = AgentService(agent_config(tmp_path), enrollment(server_url), FakeCollection(), notifier=Notifier({}))
    service.open()
    try:
        await service.usage_cycle()
        assert trims == ["trim"]
        assert await service.delivery_cycle() is Outcome.DELIVERED
        assert trims == ["trim", "trim"]
        assert await service.delivery_cycle() is Outcome.IDLE  # nothing spooled: nothing freed to give back
        assert trims == ["trim", "trim"]
    finally:
        await service.stop()
    assert len(plane.stored) == 1
