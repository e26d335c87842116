"""Report envelopes a simulated agent sends: inventory, usage, and deliberately malformed ones."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from suanli.schema import SCHEMA_VERSION, Inventory


@dataclass(frozen=True, slots=True)
class UsageShape:
    """What a usage report needs from the inventory, kept small so 100 000 agents fit in memory."""

    memory_total_bytes: int
    accelerators: tuple[tuple[int, str | None, int, float], ...]  # (index, uuid, memory_bytes, power_limit_w)
    filesystems: tuple[tuple[str, int, int], ...]  # (mountpoint, size_bytes, used_bytes)

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> UsageShape:
        return cls(
            memory_total_bytes=inventory.memory.total_bytes if inventory.memory else 0,
            accelerators=tuple((a.index, a.uuid, a.memory_total_bytes or 0, a.power_limit_w or 0.0)
                               for a in inventory.accelerators),
            filesystems=tuple((fs.mountpoint, fs.size_bytes, fs.used_bytes) for fs in inventory.filesystems),
        )


def _now_text() -> str:
    return datetime.now(timezone.utc).isoformat()


def envelope(node_id: str, seq: int, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """A v1 envelope as JSON-ready data (what `model_dump(mode="json", by_alias=True)` gives)."""
    return {"schema": SCHEMA_VERSION, "node_id": node_id, "seq": seq, "sent_at": _now_text(), "kind": kind,
            "body": body}


def inventory_body(inventory: Inventory) -> dict[str, Any]:
    return inventory.model_dump(mode="json", by_alias=True, exclude_none=True)


def _accelerator_usage(rng: random.Random, index: int, uuid: str | None, memory_bytes: int,
                       power_limit_w: float) -> dict[str, Any]:
    if uuid is None:
        return {"index": index, "error": "GPU is lost"}
    busy = rng.random()
    return {
        "index": index, "uuid": uuid, "utilization_percent": round(busy * 100, 1),
        "memory_used_bytes": int(memory_bytes * busy * 0.9), "power_w": round(power_limit_w * (0.15 + 0.8 * busy), 1),
        "temperature_c": round(35 + 45 * busy, 1), "ecc_corrected_errors": 0, "ecc_uncorrected_errors": 0,
        "retired_pages": 0,
    }


def usage_body(shape: UsageShape, rng: random.Random) -> dict[str, Any]:
    """One usage measurement with plausible, varying numbers (the control plane stores, never trusts them)."""
    cpu_percent = round(rng.random() * 100, 1)
    used = int(shape.memory_total_bytes * (0.2 + 0.6 * rng.random()))
    return {
        "cpu_percent": cpu_percent,
        "load_1m": round(cpu_percent / 10, 2), "load_5m": round(cpu_percent / 11, 2),
        "load_15m": round(cpu_percent / 12, 2),
        "memory_used_bytes": used, "memory_available_bytes": shape.memory_total_bytes - used,
        "accelerators": [_accelerator_usage(rng, *acc) for acc in shape.accelerators],
        "filesystems": [{"mountpoint": m, "size_bytes": size, "used_bytes": used_fs}
                        for m, size, used_fs in shape.filesystems],
    }


# Each breaks the contract in one way a real bug or a hostile agent might; the control plane must
# answer 4xx with {"error": {"code", "message", "detail"}} and store nothing of the batch.
def _negative_memory(report: dict[str, Any]) -> None:
    report["body"]["memory_used_bytes"] = -1


def _percent_over_100(report: dict[str, Any]) -> None:
    report["body"]["cpu_percent"] = 250.0


def _naive_timestamp(report: dict[str, Any]) -> None:
    report["sent_at"] = datetime.now().replace(tzinfo=None).isoformat()


def _unknown_schema(report: dict[str, Any]) -> None:
    report["schema"] = "v0"


def _unknown_field(report: dict[str, Any]) -> None:
    report["body"]["gpu_count_claimed"] = 10_000


def _seq_zero(report: dict[str, Any]) -> None:
    report["seq"] = 0


def _wrong_type(report: dict[str, Any]) -> None:
    report["body"]["load_1m"] = "high"


MALFORMATIONS = (_negative_memory, _percent_over_100, _naive_timestamp, _unknown_schema, _unknown_field,
                 _seq_zero, _wrong_type)


def malformed(report: dict[str, Any], rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A copy of a valid usage report broken in one way; returns the way's name and the report."""
    broken = {**report, "body": dict(report["body"])}
    how = rng.choice(MALFORMATIONS)
    how(broken)
    return how.__name__.lstrip("_"), broken
