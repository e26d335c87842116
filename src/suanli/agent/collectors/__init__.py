"""The collectors the agent runs, listed explicitly and in order (no discovery): name → factory."""

from __future__ import annotations

from collections.abc import Callable

from suanli.agent.collectors.accelerators import AcceleratorsCollector
from suanli.agent.collectors.base import CollectContext, Collector, NoData
from suanli.agent.collectors.cpu import CpuCollector
from suanli.agent.collectors.host import HostCollector
from suanli.agent.collectors.location import LocationCollector
from suanli.agent.collectors.memory import MemoryCollector
from suanli.agent.collectors.network import NetworkCollector
from suanli.agent.collectors.storage import StorageCollector

# One line per collector; its key is the name used by `collectors_enabled/disabled`, `--only`,
# `--disable` and in each report's `collectors` statuses. Each factory takes no arguments.
REGISTRY: dict[str, Callable[[], Collector]] = {
    HostCollector.name: HostCollector,
    LocationCollector.name: LocationCollector,
    CpuCollector.name: CpuCollector,
    MemoryCollector.name: MemoryCollector,
    AcceleratorsCollector.name: AcceleratorsCollector,
    StorageCollector.name: StorageCollector,
    NetworkCollector.name: NetworkCollector,
}


def collector_names() -> list[str]:
    """Every registered collector name, in run order."""
    return list(REGISTRY)


__all__ = ["REGISTRY", "CollectContext", "Collector", "NoData", "collector_names"]
