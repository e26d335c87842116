"""CPU: model, sockets, cores, clocks and FLOPS-relevant ISA features; CPU use and load averages."""

from __future__ import annotations

import platform
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suanli.agent.collectors.base import CollectContext, Collector
from suanli.agent.sysfs import read_int, read_line, read_text

# Only the features that change peak FLOPS per cycle (vector width, FMA, matrix units).
FLOPS_FEATURES = (
    "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_fp16", "avx512_bf16",
    "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2",
)
_FLOPS_FEATURE_SET = frozenset(FLOPS_FEATURES)
# ARM cpuinfo names no model: implementer and part codes (as lscpu maps them) stand in.
ARM_IMPLEMENTERS = {
    0x41: "ARM", 0x42: "Broadcom", 0x43: "Cavium", 0x48: "HiSilicon", 0x4E: "NVIDIA",
    0x50: "APM", 0x51: "Qualcomm", 0x61: "Apple", 0x70: "Phytium", 0xC0: "Ampere",
}
ARM_PARTS = {
    (0x48, 0xD01): "Kunpeng-920", (0x41, 0xD0C): "Neoverse-N1", (0x41, 0xD40): "Neoverse-V1",
    (0x41, 0xD49): "Neoverse-N2", (0x41, 0xD4F): "Neoverse-V2", (0x70, 0x662): "FTC662",
    (0x70, 0x663): "FTC663", (0xC0, 0xAC3): "Ampere-1",
}
_MODEL_GHZ = re.compile(r"@\s*([0-9]+(?:\.[0-9]+)?)\s*GHz", re.IGNORECASE)
_WANTED_KEYS = frozenset({
    "processor", "vendor_id", "model name", "physical id", "core id", "flags", "Features",
    "CPU implementer", "CPU part", "cpu model",
})


@dataclass
class CpuinfoFacts:
    """What /proc/cpuinfo says: one entry per online logical CPU."""

    processors: list[int] = field(default_factory=list)
    # (physical id, core id) per logical CPU where the architecture reports them (x86).
    core_pairs: list[tuple[int, int]] = field(default_factory=list)
    model: str | None = None
    vendor: str | None = None
    flags: frozenset[str] = frozenset()


def _first_values(text: str) -> tuple[list[int], list[tuple[int, int]], dict[str, str]]:
    """Processor numbers, (physical id, core id) pairs, and the first value seen of each wanted key."""
    processors: list[int] = []
    pairs: list[tuple[int, int]] = []
    first: dict[str, str] = {}
    physical_id: int | None = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in _WANTED_KEYS:
            continue
        value = value.strip()
        first.setdefault(key, value)
        if key == "processor" and value.isdigit():
            processors.append(int(value))
        elif key == "physical id":
            physical_id = int(value)
        elif key == "core id" and physical_id is not None:
            pairs.append((physical_id, int(value)))
    return processors, pairs, first


def _arm_model(first: dict[str, str]) -> tuple[str | None, str | None]:
    """Vendor and model of an ARM CPU from its implementer and part codes."""
    try:
        implementer = int(first["CPU implementer"], 16)
        part = int(first.get("CPU part", "0"), 16)
    except (KeyError, ValueError):
        return None, None
    vendor = ARM_IMPLEMENTERS.get(implementer, f"implementer 0x{implementer:02x}")
    model = ARM_PARTS.get((implementer, part), f"part 0x{part:03x}")
    return vendor, f"{vendor} {model}"


def parse_cpuinfo(text: str) -> CpuinfoFacts:
    """Facts from /proc/cpuinfo text (x86 `model name`/`flags`, ARM `CPU implementer`/`Features`)."""
    processors, pairs, first = _first_values(text)
    vendor, model = first.get("vendor_id"), first.get("model name") or first.get("cpu model")
    if vendor is None and model is None:
        vendor, model = _arm_model(first)
    flags = frozenset((first.get("flags") or first.get("Features") or "").split())
    if len(pairs) != len(processors):
        pairs = []  # partial topology is worse than none: fall back to sysfs
    return CpuinfoFacts(processors=processors, core_pairs=pairs, model=model, vendor=vendor, flags=flags)


def parse_model_ghz(model: str | None) -> float | None:
    """The nominal clock in MHz from a model string such as "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz"."""
    match = _MODEL_GHZ.search(model or "")
    return float(match.group(1)) * 1000.0 if match else None


def isa_features(flags: frozenset[str]) -> list[str]:
    """The FLOPS-relevant subset of the CPU flags, in a fixed order."""
    return [name for name in FLOPS_FEATURES if name in flags]


def read_topology(sys_root: Path, processors: list[int]) -> list[tuple[int, int]]:
    """(package, core) per CPU from sysfs topology, for architectures whose cpuinfo lacks them."""
    pairs = []
    for number in processors:
        topology = sys_root / "devices" / "system" / "cpu" / f"cpu{number}" / "topology"
        package, core = read_int(topology / "physical_package_id"), read_int(topology / "core_id")
        if package is None or core is None:
            return []
        pairs.append((max(package, 0), core))  # some ARM firmware reports package -1
    return pairs


def read_frequencies_mhz(sys_root: Path, model: str | None) -> tuple[float | None, float | None]:
    """Base and maximum clock in MHz.

    Base: intel_pstate's base_frequency, else amd-pstate's nominal frequency (its
    cpuinfo_max_freq is the boost clock), else the model string's "@ 2.20GHz", else cpuinfo_max_freq.
    """
    cpufreq = sys_root / "devices" / "system" / "cpu" / "cpu0" / "cpufreq"
    base_khz = read_int(cpufreq / "base_frequency") or read_int(cpufreq / "amd_pstate_nominal_freq")
    max_khz = read_int(cpufreq / "cpuinfo_max_freq")
    max_mhz = max_khz / 1000.0 if max_khz else None
    base_mhz = base_khz / 1000.0 if base_khz else parse_model_ghz(model) or max_mhz
    return base_mhz, max_mhz


def read_cpu(context: CollectContext) -> dict[str, Any]:
    """The `cpu` inventory fields for the host under the context's roots."""
    facts = parse_cpuinfo(read_text(context.proc_root / "cpuinfo") or "")
    logical = len(facts.processors)
    if logical == 0:
        raise ValueError("no processor entries in cpuinfo")
    pairs = facts.core_pairs or read_topology(context.sys_root, facts.processors)
    base_mhz, max_mhz = read_frequencies_mhz(context.sys_root, facts.model)
    arch = read_line(context.proc_root / "sys" / "kernel" / "arch") or platform.machine() or None
    return {
        "model": facts.model,
        "vendor": facts.vendor,
        "architecture": arch,
        "sockets": len({package for package, _ in pairs}) if pairs else 1,
        "physical_cores": len(set(pairs)) if pairs else logical,
        "logical_cores": logical,
        "base_mhz": base_mhz,
        "max_mhz": max_mhz,
        "isa_features": isa_features(facts.flags),
    }


def parse_cpu_times(stat_text: str) -> tuple[int, int] | None:
    """(busy, total) jiffies from the aggregate `cpu` line of /proc/stat; guest time is inside user."""
    for line in stat_text.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:9]]
            values += [0] * (8 - len(values))
            idle = values[3] + values[4]  # idle + iowait
            total = sum(values)
            return total - idle, total
    return None


def cpu_percent(previous: tuple[int, int] | None, current: tuple[int, int] | None) -> float | None:
    """Busy share of CPU time between two samples, or None without a usable earlier sample."""
    if previous is None or current is None:
        return None
    busy, total = current[0] - previous[0], current[1] - previous[1]
    if total <= 0:
        return None
    return round(min(max(busy / total * 100.0, 0.0), 100.0), 2)


def parse_loadavg(text: str) -> dict[str, float]:
    """The 1, 5 and 15 minute load averages from /proc/loadavg."""
    one, five, fifteen = (float(v) for v in text.split()[:3])
    return {"load_1m": one, "load_5m": five, "load_15m": fifteen}


class CpuCollector(Collector):
    """CPU facts for FLOPS estimates; CPU use as the change in /proc/stat since the previous call."""

    name = "cpu"

    def __init__(self) -> None:
        self._previous: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        return {"cpu": read_cpu(context)}

    def usage(self, context: CollectContext) -> dict[str, Any]:
        current = parse_cpu_times(read_text(context.proc_root / "stat") or "")
        with self._lock:
            # The first call has nothing to compare with: null, not a since-boot average.
            percent = cpu_percent(self._previous, current)
            self._previous = current
        fields: dict[str, Any] = {"cpu_percent": percent}
        loadavg = read_text(context.proc_root / "loadavg")
        if loadavg:
            fields.update(parse_loadavg(loadavg))
        return fields
