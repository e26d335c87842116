"""The capacity collector of `/metrics`: gauges by data center and accelerator model, read from the store per scrape."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.store.capacity import DEFAULT_STATUSES, CapacityQuery, query_capacity
from suanli.controlplane.store.certification_status import certification_by_datacenter
from suanli.schema.capacity import CapacityGroup

PLACE = ["province", "datacenter"]
# (metric suffix, CapacityFigures field, help): one gauge per data center for each.
FIGURES = [
    ("nodes", "nodes", "nodes counted in capacity (every status but revoked)"),
    ("cpu_physical_cores", "cpu_physical_cores", "physical CPU cores"),
    ("cpu_logical_cores", "cpu_logical_cores", "logical CPU cores (threads)"),
    ("memory_bytes", "memory_bytes", "memory"),
    ("accelerators", "accelerators_total", "accelerators"),
    ("accelerators_in_use", "accelerators_in_use", "accelerators above the in-use utilisation threshold"),
    ("storage_bytes", "storage_bytes", "storage: local block devices plus network sources counted once"),
    ("storage_local_bytes", "storage_local_bytes", "local block-device storage"),
    ("storage_network_bytes", "storage_network_bytes", "network storage, once per source"),
    ("rated_kw", "rated_kw", "rated power of registered racks"),
    ("standard_racks", "standard_racks", "standard racks (2.5 kW of rated rack power each)"),
]
PORT_SPEEDS = {"400g": "ports_400g", "200g": "ports_200g", "100g": "ports_100g"}


@dataclass
class CapacitySnapshot:
    """What one scrape reports: the data-center groups of `/v1/capacity?by=datacenter` and verdict counts."""

    groups: list[CapacityGroup] = field(default_factory=list)
    certification: list[tuple[str, str, str, int]] = field(default_factory=list)


async def read_snapshot(engine: AsyncEngine) -> CapacitySnapshot:
    """The same figures `GET /v1/capacity?by=datacenter` answers, with its default statuses."""
    groups, _ = await query_capacity(engine, CapacityQuery(by="datacenter"))
    return CapacitySnapshot(groups, await certification_by_datacenter(engine, DEFAULT_STATUSES))


def _place(group: CapacityGroup) -> list[str]:
    return [group.province or "", group.datacenter or ""]


class CapacityCollector(Collector):
    """Yields gauges from the latest snapshot; the `/metrics` handler refreshes it just before collecting."""

    def __init__(self) -> None:
        self.snapshot = CapacitySnapshot()

    def describe(self) -> list:
        return []  # families depend on the data; nothing to check for clashes at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._figures()
        yield from self._flops_and_ports()
        yield from self._accelerator_models()
        certification = GaugeMetricFamily("suanli_nodes_certification", "nodes by certification state",
                                          labels=[*PLACE, "state"])
        for province, datacenter, state, count in self.snapshot.certification:
            certification.add_metric([province, datacenter, state], count)
        yield certification

    def _figures(self) -> Iterator[GaugeMetricFamily]:
        for suffix, attribute, help_text in FIGURES:
            family = GaugeMetricFamily(f"suanli_capacity_{suffix}", help_text, labels=PLACE)
            for group in self.snapshot.groups:
                value = getattr(group, attribute)
                if value is not None:
                    family.add_metric(_place(group), float(value))
            yield family

    def _flops_and_ports(self) -> Iterator[GaugeMetricFamily]:
        flops = GaugeMetricFamily("suanli_capacity_flops", "dense peak FLOPS (OPS for int8) by precision",
                                  labels=[*PLACE, "precision"])
        ports = GaugeMetricFamily("suanli_capacity_ports", "network ports at or above a speed class",
                                  labels=[*PLACE, "speed"])
        for group in self.snapshot.groups:
            for precision, value in sorted(group.flops.items()):
                flops.add_metric([*_place(group), precision], value)
            for speed, attribute in PORT_SPEEDS.items():
                ports.add_metric([*_place(group), speed], getattr(group, attribute))
        yield flops
        yield ports

    def _accelerator_models(self) -> Iterator[GaugeMetricFamily]:
        labels = [*PLACE, "vendor", "model", "known"]
        total = GaugeMetricFamily("suanli_accelerators", "accelerators by model", labels=labels)
        in_use = GaugeMetricFamily("suanli_accelerators_in_use", "accelerators in use by model", labels=labels)
        for group in self.snapshot.groups:
            for model in group.accelerators:
                key = [*_place(group), model.vendor, model.model, str(model.known).lower()]
                total.add_metric(key, model.total)
                in_use.add_metric(key, model.in_use)
        yield total
        yield in_use
