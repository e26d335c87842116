"""CPU peak-FLOPS estimate: cores × base clock × FLOPs/cycle per ISA, with the FMA-unit rule."""

from __future__ import annotations

import pytest

from suanli.catalog import cpu_peak_flops
from suanli.schema import CpuInfo

AVX512 = ["sse2", "avx", "avx2", "fma", "avx512f"]


def _cpu(model: str, flags: list[str], cores: int = 10, mhz: float | None = 2000.0, arch: str = "x86_64") -> CpuInfo:
    return CpuInfo(model=model, architecture=arch, sockets=1, physical_cores=cores, logical_cores=cores * 2,
                   base_mhz=mhz, isa_features=flags)


@pytest.mark.parametrize(
    ("model", "flags", "per_cycle"),
    [
        ("Intel(R) Xeon(R) Platinum 8480+", AVX512 + ["amx_tile", "amx_bf16"], 32),
        ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", AVX512, 32),
        ("Intel(R) Xeon(R) Gold 5218 CPU @ 2.30GHz", AVX512, 16),
        ("Intel(R) Xeon(R) Gold 5122 CPU @ 3.60GHz", AVX512, 32),
        ("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", AVX512, 16),
        ("Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz", AVX512, 32),
        ("Intel(R) Xeon(R) Gold 5418Y", AVX512, 32),
        ("Intel(R) Xeon(R) 6980P", AVX512, 32),
        ("AMD EPYC 9654 96-Core Processor", AVX512, 16),
        ("AMD EPYC 9655 96-Core Processor", AVX512, 32),
        ("AMD EPYC 7763 64-Core Processor", ["sse2", "avx", "avx2", "fma"], 16),
        ("AMD EPYC 7601 32-Core Processor", ["sse2", "avx", "avx2", "fma"], 8),
        ("Hygon C86 7285 32-core Processor", ["sse2", "avx", "avx2", "fma"], 8),
        ("Intel(R) Xeon(R) CPU E5-2680 0 @ 2.70GHz", ["sse2", "avx"], 8),
        ("QEMU Virtual CPU", [], 4),
    ],
)
def test_x86_flops_per_cycle(model: str, flags: list[str], per_cycle: int) -> None:
    peak = cpu_peak_flops(_cpu(model, flags))
    assert peak is not None
    assert peak.flops_per_cycle_fp64 == per_cycle
    assert peak.fp64_flops == pytest.approx(10 * 2000e6 * per_cycle)
    assert peak.fp32_flops == pytest.approx(2 * peak.fp64_flops)


def test_amx_is_noted_not_counted() -> None:
    with_amx = cpu_peak_flops(_cpu("Intel(R) Xeon(R) Platinum 8480+", AVX512 + ["amx_tile", "amx_int8"]))
    without = cpu_peak_flops(_cpu("Intel(R) Xeon(R) Platinum 8480+", AVX512))
    assert "AMX" in with_amx.isa_basis and "AMX" not in without.isa_basis
    assert with_amx.fp64_flops == without.fp64_flops


def test_arm() -> None:
    kunpeng = cpu_peak_flops(_cpu("Kunpeng-920", ["fp", "asimd"], cores=64, mhz=2600.0, arch="aarch64"))
    assert kunpeng.flops_per_cycle_fp64 == 8
    assert kunpeng.fp64_flops == pytest.approx(64 * 2.6e9 * 8)
    grace = cpu_peak_flops(_cpu("Neoverse-V2", ["asimd", "sve", "sve2"], arch="aarch64"))
    assert grace.flops_per_cycle_fp64 == 16
    assert cpu_peak_flops(_cpu("old arm", [], arch="aarch64")) is None


def test_unknown_clock_or_arch_gives_none() -> None:
    assert cpu_peak_flops(_cpu("Intel(R) Xeon(R) Platinum 8480+", AVX512, mhz=None)) is None
    assert cpu_peak_flops(_cpu("riscv", [], arch="riscv64")) is None


def test_cores_and_clock_scale_the_estimate() -> None:
    two_socket = cpu_peak_flops(_cpu("AMD EPYC 7763 64-Core Processor", ["avx2", "fma"], cores=128, mhz=2450.0))
    assert two_socket.fp64_flops == pytest.approx(128 * 2.45e9 * 16)
