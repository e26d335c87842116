"""Compare the simulator's ledger with what the control plane answers at `GET /v1/capacity`."""

from __future__ import annotations

import math
from typing import Any

from suanli.sim.ledger import Totals

# ledger attribute -> capacity figure of the same meaning
_EXACT = {
    "nodes": "nodes",
    "physical_cores": "cpu_physical_cores",
    "logical_cores": "cpu_logical_cores",
    "memory_bytes": "memory_bytes",
    "local_storage_bytes": "storage_local_bytes",
    "network_storage_bytes": "storage_network_bytes",
    "storage_bytes": "storage_bytes",
    "ports_400g": "ports_400g",
    "ports_200g": "ports_200g",
    "ports_100g": "ports_100g",
}
FLOPS_RELATIVE_TOLERANCE = 1e-9  # sums of floats in another order


def capacity_mismatches(totals: Totals, figures: dict[str, Any], *, racks: bool = False) -> list[str]:
    """Every figure where the control plane's answer differs from the ledger, as readable lines
    (empty when they agree). `racks` also compares rated power, once the rack registry is imported."""
    problems = []
    for ours, theirs in _EXACT.items():
        if getattr(totals, ours) != figures.get(theirs):
            problems.append(f"{theirs}: ledger {getattr(totals, ours)} != control plane {figures.get(theirs)}")
    by_model: dict[str, int] = {}
    for entry in figures.get("accelerators", []):  # "unknown" appears once per vendor: add them up
        by_model[entry["model"]] = by_model.get(entry["model"], 0) + entry["total"]
    if by_model != dict(totals.catalog_accelerators):
        problems.append(f"accelerators by model: ledger {dict(totals.catalog_accelerators)} "
                        f"!= control plane {by_model}")
    if figures.get("accelerators_total") != sum(totals.catalog_accelerators.values()):
        problems.append(f"accelerators_total: ledger {sum(totals.catalog_accelerators.values())} "
                        f"!= control plane {figures.get('accelerators_total')}")
    for precision, value in totals.flops.items():
        answer = (figures.get("flops") or {}).get(precision, 0.0)
        if not math.isclose(value, answer, rel_tol=FLOPS_RELATIVE_TOLERANCE):
            problems.append(f"flops {precision}: ledger {value} != control plane {answer}")
    if racks and not math.isclose(totals.rated_kw, figures.get("rated_kw") or 0.0, rel_tol=1e-9):
        problems.append(f"rated_kw: ledger {totals.rated_kw} != control plane {figures.get('rated_kw')}")
    return problems


def groups_by(response: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    """The groups of a `GET /v1/capacity?by=<key>` answer, keyed by their `key` value."""
    return {group[key]: group for group in response.get("groups", [])}
