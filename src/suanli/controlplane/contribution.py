"""What one node adds to the live aggregates: pure, computed from its inventory, latest usage and status."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from suanli.controlplane.store.tables import FLOPS_PRECISIONS, TOTALS_VALUE_COLUMNS
from suanli.schema import Accelerator, CpuInfo, Inventory, NetworkInterface, Usage

PORT_BUCKETS_MBPS = (("ports_400g", 400_000), ("ports_200g", 200_000), ("ports_100g", 100_000))
NO_ACCELERATOR = ("", "")  # the model key of a node without accelerators
# The model key of a vendor's own row, (vendor, ""): all that vendor's models of a node with its
# node-level figures once. Summing the per-model rows by vendor would count a node with two models
# of one vendor (an A100 beside a T4) twice in nodes, cores, memory and ports.
VENDOR_TOTAL_MODEL = ""
_ACCELERATOR_FIGURES = ("flops_", "accelerators")
UNKNOWN_MODEL = "unknown"
Dims = tuple[str, str, str, str]  # province, datacenter, rack, status
ModelKey = tuple[str, str]  # vendor, model


class FlopsCatalog(Protocol):
    """The two catalog look-ups the aggregates need (tests may pass their own)."""

    def accelerator(self, acc: Accelerator) -> tuple[str, dict[str, float]] | None: ...

    def cpu(self, cpu: CpuInfo) -> dict[str, float]: ...


class DefaultCatalog:
    """`suanli.catalog`: accelerators by datasheet, CPUs by cores × clock × FLOPs/cycle."""

    def accelerator(self, acc: Accelerator) -> tuple[str, dict[str, float]] | None:
        from suanli.catalog import match_accelerator

        spec = match_accelerator(acc.vendor.value, acc.model or "", acc.memory_total_bytes)
        if spec is None:
            return None
        return spec.model, {p: float(v) for p, v in spec.peak_flops.items() if v is not None}

    def cpu(self, cpu: CpuInfo) -> dict[str, float]:
        from suanli.catalog import cpu_peak_flops

        peak = cpu_peak_flops(cpu)
        if peak is None:
            return {}
        return {"fp64": float(peak.fp64_flops or 0.0), "fp32": float(peak.fp32_flops or 0.0)}


@dataclass
class ModelPart:
    """The figures one node adds under one accelerator model (node-level ones repeated per model)."""

    known: bool
    values: dict[str, float] = field(default_factory=dict)


@dataclass
class Contribution:
    dims: Dims
    node: dict[str, float]
    models: dict[ModelKey, ModelPart]
    sources: dict[str, int]  # network filesystem source → size, counted once per source
    # (index, vendor, model) of each accelerator, so usage alone can recount "in use".
    accelerators: list[tuple[int, str, str]] = field(default_factory=list)
    in_use: list[int] = field(default_factory=list)  # accelerator indexes in use per latest usage

    def to_json(self) -> str:
        return json.dumps(
            {
                "dims": list(self.dims),
                "node": self.node,
                "models": [[v, m, p.known, p.values] for (v, m), p in self.models.items()],
                "sources": self.sources,
                "accelerators": self.accelerators,
                "in_use": self.in_use,
            },
            separators=(",", ":"),
        )

    @staticmethod
    def in_use_from_json(text: str) -> list[int]:
        """The `in_use` of a `to_json` text without decoding the rest (~1 µs against ~17): it is
        the text's last member, and json.dumps escapes every quote inside a string, so `"in_use":`
        cannot occur in one. Whether a node's in-use set changed is asked on every usage report.
        Any other layout is decoded whole (what follows the key is then not one JSON value)."""
        marker = text.rfind('"in_use":')
        if marker >= 0 and text.endswith("}"):
            try:
                return json.loads(text[marker + len('"in_use":'):-1])
            except ValueError:
                pass
        return Contribution.from_json(text).in_use

    @classmethod
    def from_json(cls, text: str) -> "Contribution":
        data = json.loads(text)
        return cls(
            dims=tuple(data["dims"]),  # type: ignore[arg-type]
            node=data["node"],
            models={(v, m): ModelPart(known, values) for v, m, known, values in data["models"]},
            sources=data["sources"],
            accelerators=[tuple(a) for a in data["accelerators"]],  # type: ignore[misc]
            in_use=data["in_use"],
        )


def port_speed_mbps(interface: NetworkInterface) -> int | None:
    """InfiniBand ports by their sysfs rate, Ethernet by link speed."""
    if interface.ib_rate_gbps:
        return int(interface.ib_rate_gbps * 1000)
    return interface.speed_mbps


def _node_values(inventory: Inventory, cpu_flops: dict[str, float]) -> dict[str, float]:
    values: dict[str, float] = dict.fromkeys(TOTALS_VALUE_COLUMNS, 0)
    values["nodes"] = 1
    if inventory.cpu is not None:
        values["cpu_physical_cores"] = inventory.cpu.physical_cores
        values["cpu_logical_cores"] = inventory.cpu.logical_cores
    if inventory.memory is not None:
        values["memory_bytes"] = inventory.memory.total_bytes
    values["storage_local_bytes"] = sum(d.size_bytes for d in inventory.block_devices if not d.removable)
    for interface in inventory.network_interfaces:
        speed = port_speed_mbps(interface) or 0
        bucket = next((name for name, floor in PORT_BUCKETS_MBPS if speed >= floor), None)
        if bucket:
            values[bucket] += 1
    for precision, flops in cpu_flops.items():
        if precision in FLOPS_PRECISIONS:
            values[f"flops_{precision}"] += flops
    return values


def _network_sources(inventory: Inventory) -> dict[str, int]:
    sources: dict[str, int] = {}
    for fs in inventory.filesystems:
        if fs.is_network and fs.network_source:
            sources[fs.network_source] = max(sources.get(fs.network_source, 0), fs.size_bytes)
    return sources


def in_use_indexes(usage: Usage | None, threshold_percent: float) -> set[int]:
    """Accelerators whose latest utilisation is above the threshold."""
    if usage is None:
        return set()
    return {
        a.index
        for a in usage.accelerators
        if a.utilization_percent is not None and a.utilization_percent > threshold_percent
    }


def compute(
    inventory: Inventory,
    dims: Dims,
    in_use: set[int],
    catalog: FlopsCatalog,
) -> Contribution:
    """The node's contribution; unknown accelerator models are counted but add no FLOPS."""
    node = _node_values(inventory, catalog.cpu(inventory.cpu) if inventory.cpu else {})
    node_level = {k: v for k, v in node.items() if not k.startswith(("flops_", "accelerators"))}
    models: dict[ModelKey, ModelPart] = {}
    accelerators: list[tuple[int, str, str]] = []
    for acc in inventory.accelerators:
        match = catalog.accelerator(acc)
        key = (acc.vendor.value, match[0] if match else (acc.model or UNKNOWN_MODEL))
        part = models.setdefault(key, ModelPart(known=match is not None, values=dict(node_level)))
        accelerators.append((acc.index, key[0], key[1]))
        for target in (node, part.values):
            target["accelerators"] = target.get("accelerators", 0) + 1
            target["accelerators_in_use"] = target.get("accelerators_in_use", 0) + (acc.index in in_use)
            target["accelerators_unknown"] = target.get("accelerators_unknown", 0) + (match is None)
            for precision, flops in (match[1] if match else {}).items():
                if precision in FLOPS_PRECISIONS:
                    target[f"flops_{precision}"] = target.get(f"flops_{precision}", 0) + flops
    if not models:
        models[NO_ACCELERATOR] = ModelPart(known=True, values=dict(node_level))
    return Contribution(
        dims, node, models, _network_sources(inventory), accelerators, sorted(in_use)
    )


def vendor_parts(contribution: Contribution) -> dict[str, ModelPart]:
    """One part per accelerator vendor of the node: its models' accelerator figures added up,
    the node-level figures (the same in every model's part) once."""
    parts: dict[str, ModelPart] = {}
    for (vendor, _model), part in contribution.models.items():
        if not vendor:
            continue  # a node without accelerators has no vendor
        total = parts.get(vendor)
        if total is None:
            parts[vendor] = ModelPart(part.known, dict(part.values))
            continue
        total.known = total.known and part.known
        for name, value in part.values.items():
            if name.startswith(_ACCELERATOR_FIGURES):
                total.values[name] = total.values.get(name, 0) + value
    return parts


def with_in_use(contribution: Contribution, in_use: set[int]) -> Contribution:
    """The same contribution with "in use" recounted from a new usage report (no inventory needed)."""
    counts: dict[ModelKey, int] = {}
    for index, vendor, model in contribution.accelerators:
        counts[(vendor, model)] = counts.get((vendor, model), 0) + (index in in_use)
    models = {
        key: ModelPart(part.known, {**part.values, "accelerators_in_use": counts.get(key, 0)})
        for key, part in contribution.models.items()
    }
    node = {**contribution.node, "accelerators_in_use": sum(counts.values())}
    return replace(contribution, node=node, models=models, in_use=sorted(in_use))


def with_status(contribution: Contribution, status: str) -> Contribution:
    """The same contribution moved to another status group (quarantine, revoke, approve)."""
    return replace(contribution, dims=(*contribution.dims[:3], status))  # type: ignore[arg-type]


def empty_values() -> dict[str, Any]:
    return dict.fromkeys(TOTALS_VALUE_COLUMNS, 0)
