"""The certified capacity of one node: its measured inventory, minus excluded devices, priced by the catalog."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection

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


def _accelerators(inventory: Inventory, excluded: Collection[int]) -> tuple[dict[str, int], dict[str, float]]:
    models: Counter[str] = Counter()
    flops = dict.fromkeys(PRECISIONS, 0.0)
    for accelerator in inventory.accelerators:
        if accelerator.index in excluded:
            continue
        spec = match_accelerator(accelerator.vendor, accelerator.model or "", accelerator.memory_total_bytes)
        if spec is None:
            continue  # the accelerators_known check already refuses such a node
        models[spec.model] += 1
        for precision in PRECISIONS:
            flops[precision] += spec.peak_flops.get(precision) or 0.0
    return dict(sorted(models.items())), flops


def certified_capacity(inventory: Inventory, datacenter: str, excluded_accelerators: Collection[int] = ()) -> Capacity:
    """What a certificate states: CPUs, memory, catalog-priced accelerators, storage and fast ports."""
    models, flops = _accelerators(inventory, set(excluded_accelerators))
    cpu = inventory.cpu
    cpu_flops = cpu_peak_flops(cpu) if cpu else None
    if cpu_flops is not None:
        flops["fp64"] += cpu_flops.fp64_flops
        flops["fp32"] += cpu_flops.fp32_flops
    local_bytes, network = _storage(inventory, datacenter)
    ports = _ports(inventory)
    return Capacity(
        cpu_physical_cores=cpu.physical_cores if cpu else 0,
        cpu_logical_cores=cpu.logical_cores if cpu else 0,
        memory_bytes=inventory.memory.total_bytes if inventory.memory else 0,
        accelerators=models,
        flops=Flops(**flops),
        storage_local_bytes=local_bytes,
        network_storage=network,
        ports_400g=ports[400],
        ports_200g=ports[200],
        ports_100g=ports[100],
    )
