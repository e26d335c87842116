"""What the simulator sent, summed the way the control plane counts capacity, to check it against."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from suanli.catalog import cpu_peak_flops, match_accelerator
from suanli.schema import Accelerator, CpuInfo, Inventory

STANDARD_RACK_KW = 2.5


@dataclass(frozen=True, slots=True)
class NodeCount:
    """One node's contribution: counted from its latest inventory, replaced when a newer one is sent."""

    province: str | None
    datacenter: str | None
    physical_cores: int
    logical_cores: int
    memory_bytes: int
    accelerators: tuple[tuple[str, int], ...]  # (model as reported, count)
    accelerators_lost: int
    # By catalog model name ("unknown" when the catalog does not know it or the GPU is lost), as operators see them.
    catalog_accelerators: tuple[tuple[str, int], ...]
    flops: tuple[tuple[str, float], ...]  # peak FLOPS per precision from the catalog, CPUs included
    local_storage_bytes: int
    network_sources: tuple[tuple[str, int], ...]  # (normalized source, size_bytes)
    ports_400g: int
    ports_200g: int
    ports_100g: int

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> NodeCount:
        """Count one inventory: block devices are local storage, network filesystems are kept by source."""
        models = Counter(acc.model for acc in inventory.accelerators if acc.model and not acc.error)
        lost = sum(1 for acc in inventory.accelerators if acc.error or not acc.model)
        sources = {fs.network_source or fs.device: fs.size_bytes for fs in inventory.filesystems if fs.is_network}
        catalog_models, flops = _catalog_counts(inventory.accelerators, inventory.cpu)
        speeds_gbps = [_port_gbps(nic.speed_mbps, nic.ib_rate_gbps) for nic in inventory.network_interfaces]
        return cls(
            province=inventory.location.province,
            datacenter=inventory.location.datacenter,
            physical_cores=inventory.cpu.physical_cores if inventory.cpu else 0,
            logical_cores=inventory.cpu.logical_cores if inventory.cpu else 0,
            memory_bytes=inventory.memory.total_bytes if inventory.memory else 0,
            accelerators=tuple(sorted(models.items())),
            accelerators_lost=lost,
            catalog_accelerators=tuple(sorted(catalog_models.items())),
            flops=tuple(sorted(flops.items())),
            local_storage_bytes=sum(d.size_bytes for d in inventory.block_devices if not d.removable),
            network_sources=tuple(sorted(sources.items())),
            ports_400g=sum(1 for s in speeds_gbps if s >= 400),
            ports_200g=sum(1 for s in speeds_gbps if 200 <= s < 400),
            ports_100g=sum(1 for s in speeds_gbps if 100 <= s < 200),
        )


def _catalog_counts(accelerators: list[Accelerator], cpu: CpuInfo | None) -> tuple[Counter, Counter]:
    """Accelerators by catalog model and peak FLOPS per precision, as the control plane derives them."""
    models: Counter = Counter()
    flops: Counter = Counter()
    for acc in accelerators:
        spec = match_accelerator(acc.vendor.value, acc.model or "", acc.memory_total_bytes) if acc.model else None
        models[spec.model if spec else "unknown"] += 1
        for precision, value in (spec.peak_flops.items() if spec else ()):
            flops[precision] += value or 0.0
    peak = cpu_peak_flops(cpu) if cpu else None
    if peak is not None:
        flops["fp64"] += peak.fp64_flops or 0.0
        flops["fp32"] += peak.fp32_flops or 0.0
    return models, flops


def _port_gbps(speed_mbps: int | None, ib_rate_gbps: float | None) -> float:
    return max((speed_mbps or 0) / 1000, ib_rate_gbps or 0.0)


@dataclass
class Totals:
    """Capacity of a set of nodes; network storage is counted once per source within the set."""

    nodes: int = 0
    physical_cores: int = 0
    logical_cores: int = 0
    memory_bytes: int = 0
    accelerators: Counter = field(default_factory=Counter)
    accelerators_lost: int = 0
    catalog_accelerators: Counter = field(default_factory=Counter)
    flops: Counter = field(default_factory=Counter)
    local_storage_bytes: int = 0
    network_storage_bytes: int = 0
    ports_400g: int = 0
    ports_200g: int = 0
    ports_100g: int = 0
    racks: int = 0
    rated_kw: float = 0.0

    @property
    def storage_bytes(self) -> int:
        return self.local_storage_bytes + self.network_storage_bytes

    @property
    def standard_racks(self) -> float:
        return self.rated_kw / STANDARD_RACK_KW

    def as_dict(self) -> dict[str, Any]:
        body = {name: getattr(self, name) for name in self.__dataclass_fields__}
        body["accelerators"] = dict(sorted(self.accelerators.items()))
        body["catalog_accelerators"] = dict(sorted(self.catalog_accelerators.items()))
        body["flops"] = dict(sorted(self.flops.items()))
        body["accelerators_total"] = sum(self.accelerators.values())
        body["storage_bytes"] = self.storage_bytes
        body["standard_racks"] = self.standard_racks
        return body


def total(counts: Iterable[NodeCount]) -> Totals:
    """Sum node contributions; each network source adds its size once however many nodes mount it."""
    result = Totals()
    sources: dict[str, int] = {}
    for count in counts:
        result.nodes += 1
        result.physical_cores += count.physical_cores
        result.logical_cores += count.logical_cores
        result.memory_bytes += count.memory_bytes
        result.accelerators.update(dict(count.accelerators))
        result.accelerators_lost += count.accelerators_lost
        result.catalog_accelerators.update(dict(count.catalog_accelerators))
        result.flops.update(dict(count.flops))
        result.local_storage_bytes += count.local_storage_bytes
        result.ports_400g += count.ports_400g
        result.ports_200g += count.ports_200g
        result.ports_100g += count.ports_100g
        for source, size_bytes in count.network_sources:
            sources[source] = max(size_bytes, sources.get(source, 0))
    result.network_storage_bytes = sum(sources.values())
    return result


class Ledger:
    """Per node, the latest inventory the control plane acknowledged; totals by fleet, province or data center."""

    def __init__(self, racks: Iterable[Any] = ()) -> None:
        self._counts: dict[int, NodeCount] = {}
        # Rack registry rows (objects with datacenter, province and rated_kw): standard racks come from it.
        self._racks = list(racks)

    def record(self, node: int, inventory: Inventory) -> None:
        """Remember what node `node` reported last (an acknowledged inventory replaces the earlier one)."""
        self._counts[node] = NodeCount.from_inventory(inventory)

    def forget(self, node: int) -> None:
        self._counts.pop(node, None)

    def __len__(self) -> int:
        return len(self._counts)

    def nodes(self) -> list[int]:
        return sorted(self._counts)

    def totals(self) -> Totals:
        result = total(self._counts.values())
        result.racks = len(self._racks)
        result.rated_kw = sum(rack.rated_kw for rack in self._racks)
        return result

    def totals_by(self, key: str) -> dict[str, Totals]:
        """Totals per `province` or `datacenter`, each with the racks registered there."""
        if key not in ("province", "datacenter"):
            raise ValueError(f"cannot group by {key!r}")
        groups: dict[str, list[NodeCount]] = {}
        for count in self._counts.values():
            groups.setdefault(getattr(count, key) or "", []).append(count)
        result = {name: total(counts) for name, counts in sorted(groups.items())}
        for rack in self._racks:
            group = result.setdefault(getattr(rack, key), Totals())
            group.racks += 1
            group.rated_kw += rack.rated_kw
        return result

    def as_dict(self) -> dict[str, Any]:
        return {
            "totals": self.totals().as_dict(),
            "by_province": {name: t.as_dict() for name, t in self.totals_by("province").items()},
            "by_datacenter": {name: t.as_dict() for name, t in self.totals_by("datacenter").items()},
        }
