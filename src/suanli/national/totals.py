"""Adding certified capacity up: per data center for a control plane's summary, nationwide for the puller."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from suanli.schema.national import PRECISIONS, Capacity, Flops

EXA = 1e18
_COUNT_FIELDS = (
    "cpu_physical_cores",
    "cpu_logical_cores",
    "memory_bytes",
    "storage_local_bytes",
    "ports_400g",
    "ports_200g",
    "ports_100g",
)


class CapacitySum:
    """A running sum of capacities; network storage sources are counted once, however many nodes mount them."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(_COUNT_FIELDS, 0)
        self.flops: dict[str, float] = dict.fromkeys(PRECISIONS, 0.0)
        self.accelerators: Counter[str] = Counter()
        self.network_storage: dict[str, int] = {}

    def add(self, capacity: Capacity | dict[str, Any], sign: int = 1) -> None:
        """Add a capacity (model or its JSON dict: the puller skips model building for speed)."""
        data = capacity.model_dump() if isinstance(capacity, Capacity) else capacity
        for name in _COUNT_FIELDS:
            self.counts[name] += sign * data.get(name, 0)
        for precision, value in data.get("flops", {}).items():
            if precision in self.flops:
                self.flops[precision] += sign * value
        for model, count in data.get("accelerators", {}).items():
            self.accelerators[model] += sign * count
        if sign > 0:
            for key, size in data.get("network_storage", {}).items():
                self.network_storage[key] = max(self.network_storage.get(key, 0), size)

    def result(self) -> Capacity:
        return Capacity(
            **self.counts,
            accelerators={m: c for m, c in sorted(self.accelerators.items()) if c > 0},
            flops=Flops(**{p: max(0.0, v) for p, v in self.flops.items()}),
            network_storage=dict(sorted(self.network_storage.items())),
        )


def sum_capacities(capacities: Iterable[Capacity | dict[str, Any]]) -> Capacity:
    total = CapacitySum()
    for capacity in capacities:
        total.add(capacity)
    return total.result()


def national_units(capacity: Capacity, standard_racks: float) -> dict[str, float | int | dict[str, int]]:
    """The figures as national statistics state them: standard racks, EFLOPS per precision, EB, 400G ports."""
    return {
        "standard_racks": round(standard_racks, 3),
        "eflops_fp16": capacity.flops.fp16 / EXA,
        "eflops_fp32": capacity.flops.fp32 / EXA,
        "eflops_fp64": capacity.flops.fp64 / EXA,
        "storage_eb": capacity.storage_bytes / EXA,
        "ports_400g": capacity.ports_400g,
        "cpu_physical_cores": capacity.cpu_physical_cores,
        "memory_bytes": capacity.memory_bytes,
        "accelerators": capacity.accelerators,
    }
