"""Memory: total RAM and swap for the inventory; available and used RAM for usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from suanli.agent.collectors.base import CollectContext, Collector
from suanli.agent.sysfs import read_text

_WANTED = frozenset({"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal"})


def parse_meminfo(text: str) -> dict[str, int]:
    """The fields suanli uses from /proc/meminfo, in bytes (the file says kB and means KiB)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if sep and key in _WANTED:
            parts = rest.split()
            scale = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
            values[key] = int(parts[0]) * scale
    return values


def read_meminfo(proc_root: Path) -> dict[str, int]:
    """Parsed /proc/meminfo; a missing MemTotal is an error (every Linux kernel has it)."""
    values = parse_meminfo(read_text(proc_root / "meminfo") or "")
    if "MemTotal" not in values:
        raise ValueError(f"no MemTotal in {proc_root / 'meminfo'}")
    return values


def available_bytes(values: dict[str, int]) -> int:
    """MemAvailable, or its pre-3.14-kernel estimate free + buffers + page cache."""
    if "MemAvailable" in values:
        return values["MemAvailable"]
    return values.get("MemFree", 0) + values.get("Buffers", 0) + values.get("Cached", 0)


class MemoryCollector(Collector):
    name = "memory"

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        values = read_meminfo(context.proc_root)
        return {"memory": {"total_bytes": values["MemTotal"], "swap_total_bytes": values.get("SwapTotal", 0)}}

    def usage(self, context: CollectContext) -> dict[str, Any]:
        values = read_meminfo(context.proc_root)
        available = min(available_bytes(values), values["MemTotal"])
        return {"memory_used_bytes": values["MemTotal"] - available, "memory_available_bytes": available}
