"""Tests of the CPU collector: cpuinfo parsing on strings, topology and clocks on fixture trees, CPU use deltas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from suanli.agent.collectors.base import CollectContext
from suanli.agent.collectors.cpu import (
    CpuCollector,
    cpu_percent,
    isa_features,
    parse_cpu_times,
    parse_cpuinfo,
    parse_loadavg,
    parse_model_ghz,
    read_cpu,
)

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni amx_tile

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni amx_tile
"""
ARM = """processor\t: 0
BogoMIPS\t: 100.00
Features\t: fp asimd evtstrm sve sve2
CPU implementer\t: 0x41
CPU part\t: 0xd4f

processor\t: 1
Features\t: fp asimd evtstrm sve sve2
CPU implementer\t: 0x41
CPU part\t: 0xd4f
"""


def test_parse_x86_cpuinfo() -> None:
    facts = parse_cpuinfo(X86)
    assert facts.processors == [0, 1]
    assert facts.core_pairs == [(0, 0), (0, 0)]  # two hyperthreads of one core
    assert facts.vendor == "GenuineIntel"
    assert facts.model == "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz"
    assert isa_features(facts.flags) == ["sse4_2", "avx", "avx2", "fma", "avx512f", "amx_tile"]


def test_parse_arm_cpuinfo_names_the_part() -> None:
    facts = parse_cpuinfo(ARM)
    assert facts.processors == [0, 1] and facts.core_pairs == []
    assert (facts.vendor, facts.model) == ("ARM", "ARM Neoverse-V2")
    assert isa_features(facts.flags) == ["asimd", "sve", "sve2"]


def test_model_string_clock() -> None:
    assert parse_model_ghz("Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz") == 2000.0
    assert parse_model_ghz("Intel(R) Xeon(R) Processor @ 2.50GHz") == 2500.0
    assert parse_model_ghz("AMD EPYC 9654 96-Core Processor") is None
    assert parse_model_ghz(None) is None


@pytest.mark.parametrize(("tree", "expected"), [
    ("two-socket", {"sockets": 2, "physical_cores": 4, "logical_cores": 8, "base_mhz": 2000.0, "max_mhz": 3800.0}),
    ("nvme-nfs", {"sockets": 1, "physical_cores": 4, "logical_cores": 4, "base_mhz": 2600.0, "max_mhz": 2600.0}),
    ("infiniband", {"sockets": 1, "physical_cores": 4, "logical_cores": 8, "base_mhz": 2400.0, "max_mhz": 3707.822}),
    ("captured-vm", {"sockets": 1, "physical_cores": 2, "logical_cores": 2, "base_mhz": 2500.0, "max_mhz": None}),
])
def test_topology_and_clocks_on_trees(host_context: Callable[..., CollectContext], tree: str, expected: dict) -> None:
    cpu = read_cpu(host_context(tree))
    assert {key: cpu[key] for key in expected} == expected


def test_two_socket_sapphire_rapids_features(host_context: Callable[..., CollectContext]) -> None:
    cpu = read_cpu(host_context("two-socket"))
    assert cpu["model"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx512f", "avx512_fp16", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"} <= set(cpu["isa_features"])
    assert "sse" not in cpu["isa_features"]  # only FLOPS-relevant features are kept


def test_kunpeng_uses_sysfs_topology(host_context: Callable[..., CollectContext]) -> None:
    cpu = read_cpu(host_context("nvme-nfs"))
    assert (cpu["vendor"], cpu["model"]) == ("HiSilicon", "HiSilicon Kunpeng-920")
    assert cpu["isa_features"] == ["asimd"]


def test_without_any_topology_cores_equal_logical(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(ARM)
    cpu = read_cpu(CollectContext(proc_root=tmp_path, sys_root=tmp_path / "no-sys"))
    assert (cpu["sockets"], cpu["physical_cores"], cpu["logical_cores"]) == (1, 2, 2)


def test_empty_cpuinfo_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text("")
    with pytest.raises(ValueError):
        read_cpu(CollectContext(proc_root=tmp_path, sys_root=tmp_path))


def test_cpu_times_and_percent() -> None:
    first = parse_cpu_times("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n")
    second = parse_cpu_times("cpu  250 0 150 750 150 0 0 0 0 0\n")
    assert first == (200, 1000) and second == (400, 1300)
    assert cpu_percent(first, second) == pytest.approx(200 / 300 * 100, abs=0.01)
    assert cpu_percent(None, second) is None
    assert cpu_percent(second, second) is None  # no time passed: no figure rather than 0/0


def test_loadavg() -> None:
    assert parse_loadavg("0.13 0.20 0.10 5/161 7753\n") == {"load_1m": 0.13, "load_5m": 0.2, "load_15m": 0.1}


def test_usage_is_null_first_then_the_delta(writable_host: Callable[[str], Path], context_at) -> None:
    root = writable_host("captured-vm")
    collector = CpuCollector()
    context = context_at(root)
    (root / "proc" / "stat").write_text("cpu  100 0 100 700 100 0 0 0 0 0\n")
    first = collector.usage(context)
    assert first["cpu_percent"] is None and first["load_1m"] >= 0
    (root / "proc" / "stat").write_text("cpu  175 0 125 850 150 0 0 0 0 0\n")
    assert collector.usage(context)["cpu_percent"] == pytest.approx(100 / 300 * 100, abs=0.01)
