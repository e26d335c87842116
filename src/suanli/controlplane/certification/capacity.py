"""The certified capacity of one node: its measured inventory, minus excluded devices, priced by the catalog."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from suanli.catalog import cpu_peak_flops, match_accelerator
from suanli.schema import Inventory, NetworkInterface
from suanli.schema.national import PRECISIONS, Capacity, Flops

PORT_TIERS_GBPS = (400, 200, 100)


def port_speed_gbps(interface: NetworkInterface) -> float:
    """A linked port's speed in Gb/s: the InfiniBand rate when there is one, else the Ethernet speed."""
    if not interface.link_up:
        return 0.0
    if interface.ib_rate_gbps:
        return interface.ib_rate_gbps
    return (interface.speed_mbps or 0) / 1000


def _ports(inventory: Inventory) -> dict[int, int]:
    counts = dict.fromkeys(PORT_TIERS_GBPS, 0)
    for interface in inventory.network_interfaces:
        speed_gbps = port_speed_gbps(interface)
        tier = next((t for t in PORT_TIERS_GBPS if speed_gbps >= t), None)
        if tier is not None:
            counts[tier] += 1
    return counts


def network_source_key(datacenter: str, source: str) -> str:
    """The hash under which one network export is counted once (per data center: private addresses repeat)."""
    return hashlib.sha256(f"{datacenter} {source}".encode()).hexdigest()


def _storage(inventory: Inventory, datacenter: str) -> tuple[int, dict[str, int]]:
    local_bytes = sum(d.size_bytes for d in inventory.block_devices if not d.removable)
    network: dict[str, int] = {}
    for filesystem in inventory.filesystems:
        if filesystem.is_network and filesystem.network_source:
            key = network_source_key(datacenter, filesystem.network_source)
            network[key] = max(network.get(key, 0), filesystem.size_bytes)
    return local_bytes, network


@dataclass(frozen=True)
class CapacityParts:
    """A node's capacity split so any set of excluded devices can be applied without the inventory."""

    base: Capacity  # everything but the accelerators (CPU FLOPS included)
    devices: dict[int, tuple[str, dict[str, float]]]  # index → (catalog model, peak FLOPS) of known devices

    def without(self, excluded_accelerators: Collection[int] = ()) -> Capacity:
        """The certified capacity with the excluded devices left out."""
        excluded = set(excluded_accelerators)
        models: Counter[str] = Counter()
        flops = self.base.flops.model_dump()
        for index, (model, peak) in self.devices.items():
            if index in excluded:
                continue
            models[model] += 1
            for precision in PRECISIONS:
                flops[precision] += peak.get(precision, 0.0)
        return self.base.model_copy(update={"accelerators": dict(sorted(models.items())), "flops": Flops(**flops)})


# Catalog model → (model, peak FLOPS), shared by every device of that model: the sweep's digest
# cache holds the parts of every node, and these are equal for all devices of one model.
_PRICED: dict[str, tuple[str, dict[str, float]]] = {}


def _priced(spec) -> tuple[str, dict[str, float]]:  # noqa: ANN001 - a catalog spec
    peak = {p: float(spec.peak_flops.get(p) or 0.0) for p in PRECISIONS}
    shared = _PRICED.get(spec.model)
    if shared is None or shared[1] != peak:
        shared = _PRICED[spec.model] = (spec.model, peak)
    return shared


def _devices(inventory: Inventory) -> dict[int, tuple[str, dict[str, float]]]:
    devices = {}
    for accelerator in inventory.accelerators:
        spec = match_accelerator(accelerator.vendor, accelerator.model or "", accelerator.memory_total_bytes)
        if spec is not None:  # unknown models: the accelerators_known check already refuses such a node
            devices[accelerator.index] = _priced(spec)
    return devices


def capacity_parts(inventory: Inventory, datacenter: str) -> CapacityParts:
    """CPUs, memory, storage and fast ports, and the catalog-priced accelerators apart."""
    cpu = inventory.cpu
    cpu_flops = cpu_peak_flops(cpu) if cpu else None
    flops = Flops(fp64=cpu_flops.fp64_flops, fp32=cpu_flops.fp32_flops) if cpu_flops else Flops()
    local_bytes, network = _storage(inventory, datacenter)
    ports = _ports(inventory)
    base = Capacity(
        cpu_physical_cores=cpu.physical_cores if cpu else 0,
        cpu_logical_cores=cpu.logical_cores if cpu else 0,
        memory_bytes=inventory.memory.total_bytes if inventory.memory else 0,
        flops=flops,
        storage_local_bytes=local_bytes,
        network_storage=network,
        ports_400g=ports[400],
        ports_200g=ports[200],
        ports_100g=ports[100],
    )
    return CapacityParts(base, _devices(inventory))


def certified_capacity(inventory: Inventory, datacenter: str, excluded_accelerators: Collection[int] = ()) -> Capacity:
    """What a certificate states: CPUs, memory, catalog-priced accelerators, storage and fast ports."""
    return capacity_parts(inventory, datacenter).without(excluded_accelerators)
