"""Tests of the runner: a raising, a hanging, a no-data and an invalid collector never stop the others."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from suanli.agent.collectors.base import MESSAGE_KEY, CollectContext, Collector, NoData
from suanli.agent.config import AgentConfig, ConfigError
from suanli.agent.runner import Runner, build_runner, merge_fragments, select_collectors
from suanli.schema import CollectorState, Inventory

CONTEXT = CollectContext()


class Host(Collector):
    name = "host"

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        return {"host": {"hostname": "node-1"}}


class Memory(Collector):
    name = "memory"

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        return {"memory": {"total_bytes": 1024}, MESSAGE_KEY: "read from a test"}

    def usage(self, context: CollectContext) -> dict[str, Any]:
        return {"memory_used_bytes": 512, "memory_available_bytes": 512}


class Raising(Collector):
    name = "raising"

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        raise OSError("disk on fire")


class Empty(Collector):
    name = "empty"

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        raise NoData("no such hardware here")


class Invalid(Collector):
    name = "invalid"

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        return {"block_devices": [{"name": "sda", "size_bytes": -1}]}


class Hanging(Collector):
    name = "hanging"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        self.calls += 1
        self.release.wait()
        return {"accelerators": []}


def _states(inventory: Inventory) -> dict[str, tuple[CollectorState, str | None]]:
    return {status.name: (status.state, status.message) for status in inventory.collectors}


def test_failures_are_statuses_and_the_rest_is_collected() -> None:
    hanging = Hanging()
    collectors = [Host(), Memory(), Raising(), Empty(), Invalid(), hanging]
    runner = Runner({c.name: c for c in collectors}, CONTEXT, timeout_s=0.3, disabled=["storage"])
    inventory = runner.inventory()
    states = _states(inventory)
    assert inventory.host.hostname == "node-1" and inventory.memory.total_bytes == 1024
    assert states["host"] == (CollectorState.OK, None)
    assert states["memory"] == (CollectorState.OK, "read from a test")
    assert states["raising"] == (CollectorState.ERROR, "OSError: disk on fire")
    assert states["empty"] == (CollectorState.NO_DATA, "no such hardware here")
    assert states["invalid"][0] == CollectorState.ERROR and "size_bytes" in states["invalid"][1]
    assert inventory.block_devices == []
    assert states["hanging"] == (CollectorState.TIMEOUT, "no answer within 0.3 s")
    assert states["storage"] == (CollectorState.DISABLED, None)
    assert [s.name for s in inventory.collectors] == ["host", "memory", "raising", "empty", "invalid", "hanging", "storage"]
    hanging.release.set()
    runner.close()


def test_a_hung_collector_is_not_started_again_until_it_returns() -> None:
    hanging = Hanging()
    runner = Runner({"host": Host(), "hanging": hanging}, CONTEXT, timeout_s=0.2)
    runner.inventory()
    second = _states(runner.inventory())
    assert second["hanging"][0] == CollectorState.TIMEOUT and "not started again" in second["hanging"][1]
    assert second["host"][0] == CollectorState.OK
    assert hanging.calls == 1
    hanging.release.set()
    runner._busy["hanging"].result(timeout=5)
    assert _states(runner.inventory())["hanging"][0] == CollectorState.OK
    assert hanging.calls == 2
    hanging.release.set()
    runner.close()


def test_overlapping_inventory_and_usage_do_not_look_hung() -> None:
    entered = threading.Event()

    class Slow(Collector):
        name = "slow"

        def inventory(self, context: CollectContext) -> dict[str, Any]:
            entered.set()
            threading.Event().wait(0.3)
            return {}

        def usage(self, context: CollectContext) -> dict[str, Any]:
            return {"cpu_percent": 1.0}

    runner = Runner({"host": Host(), "slow": Slow()}, CONTEXT, timeout_s=5)
    inventory_thread = threading.Thread(target=runner.inventory)
    inventory_thread.start()
    assert entered.wait(5)
    usage = runner.usage()  # asked while the inventory's slow call may still run
    inventory_thread.join()
    assert [(s.name, s.state) for s in usage.collectors] == [("slow", CollectorState.OK)]
    assert usage.cpu_percent == 1.0
    runner.close()


def test_durations_are_recorded() -> None:
    runner = Runner({"host": Host()}, CONTEXT, timeout_s=5)
    status = runner.inventory().collectors[0]
    assert 0.0 <= status.duration_ms < 5000.0
    runner.close()


def test_usage_runs_only_collectors_with_a_usage_part() -> None:
    runner = Runner({"host": Host(), "memory": Memory()}, CONTEXT, timeout_s=5)
    usage = runner.usage()
    assert usage.memory_used_bytes == 512
    assert [s.name for s in usage.collectors] == ["memory"]
    runner.close()


def test_without_a_host_collector_the_inventory_still_has_a_hostname() -> None:
    runner = Runner({"memory": Memory()}, CONTEXT, timeout_s=5, disabled=["host"])
    inventory = runner.inventory()
    assert inventory.host.hostname
    assert _states(inventory)["host"][0] == CollectorState.DISABLED
    runner.close()


def test_lists_from_several_collectors_are_joined() -> None:
    merged = merge_fragments([{"accelerators": [1], "cpu": "a"}, {"accelerators": [2], "cpu": "b"}])
    assert merged == {"accelerators": [1, 2], "cpu": "b"}


def test_unknown_fields_are_an_error_of_that_collector() -> None:
    class Typo(Collector):
        name = "typo"

        def inventory(self, context: CollectContext) -> dict[str, Any]:
            return {"memroy": {}}

    runner = Runner({"host": Host(), "typo": Typo()}, CONTEXT, timeout_s=5)
    state, message = _states(runner.inventory())["typo"]
    assert state == CollectorState.ERROR and "memroy" in message
    runner.close()


def test_select_collectors() -> None:
    known = ["host", "cpu", "memory", "storage"]
    assert select_collectors(known, None, []) == (known, [])
    assert select_collectors(known, ["memory", "cpu"], ["cpu"]) == (["memory"], ["host", "cpu", "storage"])
    with pytest.raises(ConfigError, match="unknown collector.*gpu"):
        select_collectors(known, None, ["gpu"])


def test_build_runner_from_config(tmp_path) -> None:
    config = AgentConfig(collectors_disabled=["storage"], collector_timeout_s=3, proc_root=tmp_path)
    registry = {"host": Host, "memory": Memory, "storage": Raising}
    runner = build_runner(config, registry)
    assert list(runner.collectors) == ["host", "memory"]
    assert runner.disabled == ["storage"] and runner.timeout_s == 3
    assert runner.context.proc_root == tmp_path
    runner.close()
